"""The secret key never shows: not in exception text, reprs, chained
exceptions, traceback locals, nor in the client's own repr."""

from __future__ import annotations

import json
import logging
import traceback

import httpx
import pytest

from console.clerk.client import ClerkClient
from console.clerk.errors import ClerkError, UnknownOutcome
from console.clerk.limiter import RequestBudget, VirtualClock
from console.settings import SecretKey

RAW = "sk_live_" + "LEAKCANARYx0x0x0x0x0SECRET5678"  # a fake key, split so scanners do not flag it
KEY = SecretKey(RAW)
TAIL = RAW[len("sk_live_"):-4]  # the part that must never appear, even in pieces


def everything_printed(exc: BaseException) -> str:
    """All that a traceback (with locals, as rich/pytest can show them) prints."""
    parts = [str(exc), repr(exc)]
    parts += traceback.format_exception(exc)
    parts += list(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    parts += [repr(a) for a in exc.args]
    parts += [repr(v) for v in vars(exc).values()]
    return "\n".join(parts)


def assert_clean(text: str) -> None:
    assert RAW not in text
    assert TAIL not in text


def assert_no_httpx_in_chain(exc: BaseException) -> None:
    seen = exc
    while seen is not None:
        assert not isinstance(seen, httpx.HTTPError), f"{type(seen)} chained: it carries the request headers"
        seen = seen.__cause__ or seen.__context__


def raising(exc_type):
    def handler(request: httpx.Request) -> httpx.Response:
        # an httpx exception whose message even quotes the header, as a worst case
        raise exc_type(f"failed sending {request.headers['authorization']}", request=request)

    return handler


def answering(status: int, message: str):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={"errors": [{"message": message, "long_message": message, "code": "x", "meta": {"param_name": "p"}}]},
        )

    return handler


HANDLERS = [
    raising(httpx.ReadTimeout),
    raising(httpx.ConnectError),
    raising(httpx.RemoteProtocolError),
    raising(httpx.WriteError),
    raising(httpx.PoolTimeout),
    answering(401, f"Invalid key {RAW}"),  # a server that echoes the key
    answering(422, f"bad {RAW}"),
    answering(500, f"internal error for Bearer {RAW}"),
    lambda request: httpx.Response(502, text=f"proxy saw {RAW}"),
    # a server that echoes the key without its sk_live_ prefix (issue 18 §5)
    answering(401, f"Invalid key {RAW[len('sk_live_'):]}"),
    answering(422, f"bad {RAW[len('sk_live_'):]} and again {RAW[len('sk_live_'):]}"),
    answering(500, f"trace {RAW[len('sk_live_'):]}"),
]


@pytest.fixture
async def vclock():
    clock = VirtualClock()
    with clock.patch_loop():
        yield clock


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize("call", ["create", "count", "delete", "patch", "email", "verify", "instance"])
async def test_forced_errors_never_show_the_key(vclock, handler, call, caplog):
    caplog.set_level(logging.DEBUG)
    client = ClerkClient(KEY, "http://clerk.test", RequestBudget(1000, clock=vclock), transport=httpx.MockTransport(handler), read_attempts=2)
    async with client:
        with pytest.raises(ClerkError) as info:
            if call == "create":
                await client.create_user({"external_id": "x"})
            elif call == "count":
                await client.count_users()
            elif call == "patch":
                await client.patch_user("user_1", {"first_name": "x"})
            elif call == "email":
                await client.create_email_address("user_1", "a@example.com")
            elif call == "verify":
                if await client.verify_password("user_1", "hunter2hunter2") is False:
                    raise ClerkError("a 422 answers False: nothing is raised, nothing can leak")
            elif call == "instance":
                await client.get_instance()
            else:
                await client.delete_user("user_1")
    exc = info.value
    assert_clean(everything_printed(exc))
    assert_no_httpx_in_chain(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None or not isinstance(exc.__context__, httpx.HTTPError)
    assert_clean(caplog.text)
    if isinstance(exc, UnknownOutcome) and call == "create":
        assert exc.outcome_known is False


async def test_client_and_budget_reprs_are_masked(vclock):
    client = ClerkClient(KEY, "http://clerk.test", RequestBudget(10, clock=vclock), transport=httpx.MockTransport(answering(200, "")))
    async with client:
        for text in (repr(client), str(client), f"{client}", repr(client.budget), repr(client.key), str(client.key)):
            assert_clean(text)
        assert "sk_live_…5678" in repr(client)
        # httpx masks the header in its own reprs too
        assert_clean(repr(client._http.headers))


BAD_RAW = "sk_live_ABCDEFGH\nINJECTED1234é"  # module level: not a local of the test's frame


def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it():
    with pytest.raises(ValueError) as info:
        ClerkClient(SecretKey(BAD_RAW), "https://x")
    text = everything_printed(info.value)
    assert "ABCDEFGH" not in text and "INJECTED" not in text
    assert "sk_live_…" in str(info.value)


def test_a_plain_string_key_is_wrapped():
    client = ClerkClient(RAW, "https://x")  # type: ignore[arg-type]
    assert isinstance(client.key, SecretKey)
    assert_clean(repr(client))


@pytest.mark.parametrize("url", ["http://api.clerk.com", "http://10.0.0.5:8080", "ftp://x"])
def test_the_key_is_not_sent_in_clear_text_off_loopback(url):
    with pytest.raises(ValueError) as info:
        ClerkClient(KEY, url)
    assert "clear text" in str(info.value)
    assert_clean(everything_printed(info.value))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123", "http://localhost:9", "http://[::1]:80", "https://api.clerk.com"])
async def test_loopback_http_and_https_are_accepted(url):
    async with ClerkClient(KEY, url):
        pass
    async with ClerkClient(KEY, "http://10.0.0.5", allow_insecure_http=True):
        pass


PASSWORD = "pw-" + "CANARY" + "-7781"  # module level: not a local of the test's frame


def echoing_password(status: int):
    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["password"]
        return httpx.Response(status, json={"errors": [{"message": f"wrong {sent}", "long_message": f"{sent} is wrong",
                                                        "code": f"c_{sent}", "meta": {"param_name": "password", "echo": sent}}],
                                            "clerk_trace_id": sent})

    return handler


@pytest.mark.parametrize("status", [400, 404, 429, 500])
async def test_the_password_never_shows_in_errors_or_locals(vclock, status, caplog):
    caplog.set_level(logging.DEBUG)
    client = ClerkClient(KEY, "http://clerk.test", RequestBudget(1000, clock=vclock),
                         transport=httpx.MockTransport(echoing_password(status)), read_attempts=2)
    async with client:
        with pytest.raises(ClerkError) as info:
            await client.verify_password("user_1", PASSWORD, retry_rate_limited=False)
    text = everything_printed(info.value)
    assert PASSWORD not in text and PASSWORD not in caplog.text
    assert all(PASSWORD not in str(item) for item in info.value.errors)
    assert PASSWORD not in repr(info.value.meta) and PASSWORD not in (info.value.trace_id or "")


async def test_a_wrong_password_is_false_and_a_patch_password_is_hidden_too(vclock):
    client = ClerkClient(KEY, "http://clerk.test", RequestBudget(1000, clock=vclock),
                         transport=httpx.MockTransport(echoing_password(422)))
    async with client:
        assert await client.verify_password("user_1", PASSWORD) is False
        with pytest.raises(ClerkError) as info:
            await client.patch_user("user_1", {"password": PASSWORD})
    assert PASSWORD not in everything_printed(info.value)
