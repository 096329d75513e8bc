"""Async client for Clerk's Backend API.

One `httpx.AsyncClient` (pooling, timeouts), `Clerk-API-Version` pinned, every
request paced by the shared `RequestBudget` (`await budget.acquire()` before
each send, resends included).

What happens to a failed call:

- 429: known not to have been carried out. The client reports it to the
  budget (which pauses every caller for Retry-After and lowers the pace) and
  sends the same call again, without counting an attempt. A call made with
  `retry_rate_limited=False` raises `RateLimited` instead.
- other 4xx: a definite answer, raised as the typed exception of
  `console.clerk.errors` (status, code, param_name, message, long_message,
  trace id).
- 5xx, timeout, dropped connection:
  - create, and the writes that are not idempotent (PATCH a user, add, change
    or delete an email address): `ServerError` / `TransportError` (both
    `UnknownOutcome`), raised at once and never resent here: the write may
    have happened, the caller reads the user back before sending again;
  - GET (lookups, count, get) and DELETE: resent with capped exponential
    backoff and jitter, `read_attempts` attempts in all, then raised. A DELETE
    answered 404 on a resend means an earlier attempt did delete the user.

- 401: the key is refused. The client then refuses every later call at once
  (`AuthenticationError`, nothing sent): requests already on the wire may
  still land, none leaves after the first 401 is read.

Lookups by external id or user id send every value as `+<id>`: Clerk reads a
leading `-` as "exclude", so an id that starts with `-` would never be found.

The secret key lives in a `SecretKey` and in the Authorization header of the
httpx client (whose repr masks it). No exception raised here carries an httpx
exception in `__cause__`/`__context__` (those hold the request and its
headers), and every message is scrubbed of the key (whole, and its secret part
without the `sk_live_`/`sk_test_` prefix) before it is raised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import httpx
from pydantic import TypeAdapter, ValidationError

from console.clerk.errors import (
    AuthenticationError,
    ClerkAPIError,
    ClerkError,
    NotFound,
    PasswordNotSet,
    RateLimited,
    ServerError,
    TransportError,
    UnknownOutcome,
    error_class_for,
)
from console.clerk.limiter import RequestBudget, parse_retry_after
from console.clerk.wire import WirePool, proxied
from console.clerk.models import DeletedObject, EmailAddress, ErrorBody, Instance, PasswordCheck, TotalCount, User
from console.settings import DEFAULT_API_URL, SecretKey

API_VERSION = "2025-11-10"
LOOKUP_BATCH = 100  # values per filter per request (Clerk's maximum)
LIST_LIMIT = 500  # Clerk's maximum page size
CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_ATTEMPTS = 5
DEFAULT_LOOKUP_CONCURRENCY = 8
BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 4.0
LATENCY_SAMPLES = 2048
_JSON_CONTENT = [(b"content-type", b"application/json")]
EXACT_ID_FILTERS = frozenset({"external_id", "user_id"})  # Clerk reads a leading +/- on these
# _call kinds: how a failure without an answer (5xx, timeout, drop) is handled
NOT_RESENT = frozenset({"create", "write"})  # the outcome is unknown: raised, never resent


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("clerk-migrate")
    except Exception:  # pragma: no cover - not installed
        return "0"


USER_AGENT = f"clerk-migrate/{_version()} httpx/{httpx.__version__}"


class LiveCheck(NamedTuple):
    """The console's live check: the instance answered with this many users."""

    users: int
    latency_ms: float


ResponseHook = Callable[[float, "int | None"], None]


class ClerkClient:
    """The Backend API calls the migration needs, paced and typed.

    secret_key: `SecretKey` (a plain str is wrapped).
    base_url: e.g. `https://api.clerk.com` or the sandbox's URL; paths go under /v1.
    budget: the run's shared `RequestBudget`; default: one for the key's instance kind.
    timeout: read/write/pool timeout in seconds (connect: 5 s).
    max_connections: the pool size.
    transport: an httpx transport (tests pass `httpx.MockTransport`).
    read_attempts: attempts for GET/DELETE on 5xx/transport errors.
    lookup_concurrency: batches of one lookup call in flight at once.
    allow_insecure_http: plain http:// is refused (the key would cross the
        network in clear text) unless the host is loopback or this is set.
    backoff_base_s / backoff_max_s: the resend delay is
        min(max, base * 2**(n-1)) * uniform(0.5, 1).
    on_response: called after every answer or transport failure with
        (latency in seconds, HTTP status or None); must be cheap.
    rng: random source for the jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        secret_key: SecretKey,
        base_url: str = DEFAULT_API_URL,
        budget: RequestBudget | None = None,
        *,
        timeout: float = 30.0,
        max_connections: int = 100,
        transport: Any = None,
        read_attempts: int = DEFAULT_READ_ATTEMPTS,
        lookup_concurrency: int = DEFAULT_LOOKUP_CONCURRENCY,
        allow_insecure_http: bool = False,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        on_response: ResponseHook | None = None,
        user_agent: str = USER_AGENT,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(secret_key, SecretKey):
            secret_key = SecretKey(str(secret_key))
        if not _header_safe(secret_key):
            # checked here so that httpx never raises with the value in its message
            # (and no local variable of this frame holds it for a traceback to show)
            raise ValueError(f"the secret key {secret_key.masked or '(empty)'} is empty or holds characters that cannot go in a header")
        self._key = secret_key
        self.base_url = _normalise_base_url(base_url)
        if transport is None and not allow_insecure_http and not _wire_is_safe(self.base_url):
            raise ValueError(
                f"refusing to send the secret key in clear text to {self.base_url}: "
                "use https:// (plain http:// is allowed only for a loopback sandbox)"
            )
        self.lookup_concurrency = max(1, int(lookup_concurrency))
        self.budget = budget if budget is not None else RequestBudget.for_instance(secret_key.instance_kind)
        self._clock = self.budget.clock
        self.timeout = float(timeout)
        self.read_attempts = max(1, int(read_attempts))
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.on_response = on_response
        self._rng = rng or random.Random()
        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)  # seconds, every answered request
        self.requests_sent = 0
        self.retries = 0  # GET/DELETE resends after 5xx/transport errors
        self.rate_limited_resends = 0  # resends after a 429
        self._refused: AuthenticationError | None = None  # the first 401: nothing is sent after it
        headers = {
            "Authorization": f"Bearer {secret_key.reveal()}",
            "Clerk-API-Version": API_VERSION,
            "User-Agent": user_agent,
            "Accept": "application/json",
        }
        http_timeout = httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT_S)
        # The client's own HTTP/1.1 path (wire.py): one write per request, h11 framing, an
        # O(1) keep-alive pool. A given transport (tests: httpx.MockTransport, a recorder
        # around httpx.AsyncHTTPTransport), or a proxy the environment names for the API's
        # URL, goes through httpx.AsyncClient instead.
        self._wire: WirePool | None = None
        self._http: httpx.AsyncClient | None = None
        if transport is None and not proxied(self.base_url):
            self._wire = WirePool(self.base_url + "/v1", [*headers.items(), ("Accept-Encoding", "gzip, deflate")],
                                  max_connections=max_connections, timeout=http_timeout)
        else:
            self._http = httpx.AsyncClient(
                base_url=self.base_url + "/v1",
                headers=headers,
                timeout=http_timeout,
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                ),
                transport=transport,
                follow_redirects=False,
            )
        del headers

    # ----------------------------------------------------------- lifecycle
    async def __aenter__(self) -> "ClerkClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.aclose()
        if self._http is not None:
            await self._http.aclose()

    @property
    def key(self) -> SecretKey:
        return self._key

    @property
    def instance_kind(self) -> str | None:
        return self._key.instance_kind

    @property
    def refused(self) -> AuthenticationError | None:
        """The first 401 this client met (then every later call is refused unsent), or None."""
        return self._refused

    def __repr__(self) -> str:
        key = getattr(self, "_key", None)
        return (
            f"ClerkClient(base_url={getattr(self, 'base_url', None)!r}, "
            f"key={key.masked if key is not None else None!r}, budget={getattr(self, 'budget', None)!r})"
        )

    __str__ = __repr__

    # ------------------------------------------------------------- calls
    async def create_user(self, body: dict[str, Any], *, retry_rate_limited: bool = True) -> User:
        """POST /v1/users. Raises IdentifierExists, ClerkAPIError (422 etc.),
        QuotaExceeded, AuthenticationError, or UnknownOutcome (5xx/timeout/drop)."""
        data = await self._call("POST", "/users", json_body=body, kind="create", retry_rate_limited=retry_rate_limited,
                                fast=User.model_validate_json)
        if type(data) is _Parsed:
            return data.value
        return self._parse(User, data, "POST /users", unknown_outcome=True)

    async def list_users(self, *, retry_rate_limited: bool = True, model: Any = User, **params: Any) -> list[User]:
        """GET /v1/users with Clerk's params (limit, offset, order_by, query,
        external_id, user_id, email_address, phone_number, username, …);
        list values become repeated keys. `model`: `User`, or `UserCore` for a read
        that only compares (verify)."""
        adapter = _USER_LIST if model is User else _list_adapter(model)
        data = await self._call("GET", "/users", params=_query(params), retry_rate_limited=retry_rate_limited,
                                fast=adapter.validate_json)
        if type(data) is _Parsed:
            return data.value
        if not isinstance(data, list):
            raise TransportError("GET /users: the answer is not a JSON array", code="malformed_response")
        return [self._parse(model, item, "GET /users") for item in data]

    async def users_by_external_ids(self, external_ids: Iterable[str], *, retry_rate_limited: bool = True) -> dict[str, User]:
        """external_id -> User, for the ids that exist; batched 100 per request."""
        wanted = _unique(str(v) for v in external_ids)
        wanted_set = set(wanted)
        found: dict[str, User] = {}
        for user in await self._lookup("external_id", wanted, retry_rate_limited):
            if user.external_id is not None and user.external_id in wanted_set:
                found[user.external_id] = user
        return found

    async def users_by_ids(self, user_ids: Iterable[str], *, retry_rate_limited: bool = True,
                           model: Any = User) -> dict[str, User]:
        """Clerk user id -> User, for the ids that exist; batched 100 per request.
        `model=UserCore`: only what verify compares (faster to read)."""
        wanted = _unique(str(v) for v in user_ids)
        wanted_set = set(wanted)
        found: dict[str, User] = {}
        for user in await self._lookup("user_id", wanted, retry_rate_limited, model):
            if user.id in wanted_set:
                found[user.id] = user
        return found

    async def users_by_emails(self, emails: Iterable[str], *, retry_rate_limited: bool = True) -> dict[str, User]:
        """lower-cased email -> User holding it (any of the user's addresses,
        not only the primary one); batched 100 per request."""
        wanted = _unique(str(v).strip().lower() for v in emails)
        wanted_set = set(wanted)
        found: dict[str, User] = {}
        for user in await self._lookup("email_address", wanted, retry_rate_limited):
            for address in user.email_addresses:
                email = address.email_address.strip().lower()
                if email in wanted_set:
                    found[email] = user
        return found

    async def count_users(self, *, retry_rate_limited: bool = True, **filters: Any) -> int:
        """GET /v1/users/count with the same filters as list_users."""
        data = await self._call("GET", "/users/count", params=_query(filters), retry_rate_limited=retry_rate_limited)
        return self._parse(TotalCount, data, "GET /users/count").total_count

    async def get_user(self, user_id: str, *, retry_rate_limited: bool = True) -> User:
        """GET /v1/users/{id}; NotFound when there is no such user."""
        data = await self._call("GET", f"/users/{_segment(user_id)}", retry_rate_limited=retry_rate_limited)
        return self._parse(User, data, "GET /users/{id}")

    async def delete_user(self, user_id: str, *, retry_rate_limited: bool = True) -> DeletedObject:
        """DELETE /v1/users/{id}. NotFound when the first attempt finds no user;
        a 404 on a resend means an earlier attempt deleted it."""
        path = f"/users/{_segment(user_id)}"
        try:
            data = await self._call("DELETE", path, kind="delete", retry_rate_limited=retry_rate_limited)
        except _GoneOnRetry:
            return DeletedObject(object="user", id=user_id, deleted=True)
        return self._parse(DeletedObject, data, "DELETE /users/{id}")

    async def update_user_metadata(
        self,
        user_id: str,
        *,
        public_metadata: dict[str, Any] | None = None,
        private_metadata: dict[str, Any] | None = None,
        unsafe_metadata: dict[str, Any] | None = None,
        retry_rate_limited: bool = True,
    ) -> User:
        """PATCH /v1/users/{id}/metadata: Clerk deep-merges each given object into the
        user's (nested objects too; a key set to None is removed). A merge is idempotent,
        so 5xx/transport errors are resent like a read. NotFound when there is no such user."""
        body = {
            name: value
            for name, value in (("public_metadata", public_metadata), ("private_metadata", private_metadata),
                                ("unsafe_metadata", unsafe_metadata))
            if value is not None
        }
        data = await self._call("PATCH", f"/users/{_segment(user_id)}/metadata", json_body=body, kind="update",
                                retry_rate_limited=retry_rate_limited)
        return self._parse(User, data, "PATCH /users/{id}/metadata")

    async def get_instance(self, *, retry_rate_limited: bool = True) -> Instance:
        """GET /v1/instance: the instance's own id (`ins_…`) and environment type,
        the same under every secret key of the instance (a rotated key too)."""
        data = await self._call("GET", "/instance", retry_rate_limited=retry_rate_limited)
        return self._parse(Instance, data, "GET /instance")

    async def patch_user(self, user_id: str, body: dict[str, Any], *, retry_rate_limited: bool = True) -> User:
        """PATCH /v1/users/{id} with Clerk's UpdateUser fields (external_id,
        first_name, last_name, username, password or password_digest +
        password_hasher, public/private/unsafe_metadata, which replace the stored
        object whole, legal_accepted_at, primary_email_address_id, …).
        IdentifierExists when another user holds the external_id or username;
        NotFound; UnknownOutcome on 5xx/timeout (not resent: read the user back)."""
        payload: Any = body
        if isinstance(body, dict) and body.get("password"):
            payload = _SecretBody(dict(body))  # a plaintext password: masked in any traceback's locals
        del body
        data = await self._call("PATCH", f"/users/{_segment(user_id)}", json_body=payload, kind="write",
                                retry_rate_limited=retry_rate_limited,
                                hide=payload.passwords if isinstance(payload, _SecretBody) else None)
        return self._parse(User, data, "PATCH /users/{id}", unknown_outcome=True)

    async def create_email_address(
        self, user_id: str, email_address: str, *, verified: bool | None = None, primary: bool | None = None,
        retry_rate_limited: bool = True,
    ) -> EmailAddress:
        """POST /v1/email_addresses. `verified`/`primary` are sent only when given
        (Clerk: not primary unless it is the user's first address). IdentifierExists
        when the address is taken; UnknownOutcome on 5xx/timeout (not resent)."""
        body: dict[str, Any] = {"user_id": user_id, "email_address": email_address}
        if verified is not None:
            body["verified"] = verified
        if primary is not None:
            body["primary"] = primary
        data = await self._call("POST", "/email_addresses", json_body=body, kind="write",
                                retry_rate_limited=retry_rate_limited)
        return self._parse(EmailAddress, data, "POST /email_addresses", unknown_outcome=True)

    async def update_email_address(
        self, email_address_id: str, *, verified: bool | None = None, primary: bool | None = None,
        retry_rate_limited: bool = True,
    ) -> EmailAddress:
        """PATCH /v1/email_addresses/{id} {verified, primary}; UnknownOutcome on 5xx/timeout."""
        body = {k: v for k, v in (("verified", verified), ("primary", primary)) if v is not None}
        data = await self._call("PATCH", f"/email_addresses/{_segment(email_address_id)}", json_body=body,
                                kind="write", retry_rate_limited=retry_rate_limited)
        return self._parse(EmailAddress, data, "PATCH /email_addresses/{id}", unknown_outcome=True)

    async def delete_email_address(self, email_address_id: str, *, retry_rate_limited: bool = True) -> DeletedObject:
        """DELETE /v1/email_addresses/{id}. Clerk refuses (400, ClerkAPIError) to
        delete a user's last identification; the sandbox also refuses the primary
        address (make the new one primary first). UnknownOutcome on 5xx/timeout."""
        data = await self._call("DELETE", f"/email_addresses/{_segment(email_address_id)}", kind="write",
                                retry_rate_limited=retry_rate_limited)
        return self._parse(DeletedObject, data, "DELETE /email_addresses/{id}", unknown_outcome=True)

    async def ban_user(self, user_id: str, *, retry_rate_limited: bool = True) -> User:
        """POST /v1/users/{id}/ban (idempotent: resent on 5xx like a read)."""
        data = await self._call("POST", f"/users/{_segment(user_id)}/ban", kind="update",
                                retry_rate_limited=retry_rate_limited)
        return self._parse(User, data, "POST /users/{id}/ban")

    async def unban_user(self, user_id: str, *, retry_rate_limited: bool = True) -> User:
        """POST /v1/users/{id}/unban (idempotent: resent on 5xx like a read)."""
        data = await self._call("POST", f"/users/{_segment(user_id)}/unban", kind="update",
                                retry_rate_limited=retry_rate_limited)
        return self._parse(User, data, "POST /users/{id}/unban")

    async def verify_password(self, user_id: str, password: str, *, retry_rate_limited: bool = True) -> bool:
        """POST /v1/users/{id}/verify_password: True when Clerk verifies it, False
        on 422 (wrong password, or a digest/hasher imported wrong). PasswordNotSet
        (400) when the user has no password, NotFound when there is no such user.
        The password is never logged, never in an exception or its traceback's
        locals, and scrubbed from anything the server answers."""
        secret = _SecretBody({"password": password})
        del password  # from here on only the masked wrapper is a local of this frame
        try:
            data = await self._call("POST", f"/users/{_segment(user_id)}/verify_password", json_body=secret,
                                    kind="update", retry_rate_limited=retry_rate_limited, hide=secret.values)
            outcome: bool | ClerkAPIError = self._parse(PasswordCheck, data, "POST /users/{id}/verify_password").verified
        except ClerkAPIError as exc:
            if exc.status not in (400, 422):
                raise
            outcome = exc
        if isinstance(outcome, ClerkAPIError):
            if outcome.status == 422:
                return False
            refusal = PasswordNotSet(outcome.message, status=400, code=outcome.code, long_message=outcome.long_message,
                                     trace_id=outcome.trace_id, meta=outcome.meta)
            del outcome
            raise refusal
        return outcome

    async def check(self, *, retry: bool = False) -> LiveCheck:
        """The console's live check: count the instance's users, timed.

        By default a single attempt that does not wait out a 429 (it raises
        RateLimited with Retry-After), so the screen answers quickly."""
        start = self._clock.now()
        if retry:
            users = await self.count_users()
        else:
            data = await self._call("GET", "/users/count", attempts=1, retry_rate_limited=False)
            users = self._parse(TotalCount, data, "GET /users/count").total_count
        return LiveCheck(users, round((self._clock.now() - start) * 1000.0, 1))

    ping = check

    def latency_quantiles(self) -> tuple[float | None, float | None]:
        """(p50, p95) of the recent answered requests, in seconds."""
        samples = sorted(self.latencies)
        if not samples:
            return None, None

        def q(p: float) -> float:
            return samples[min(len(samples) - 1, max(0, int(round(p * (len(samples) - 1)))))]

        return q(0.50), q(0.95)

    # ----------------------------------------------------------- internals
    async def _lookup(self, field: str, values: Sequence[str], retry_rate_limited: bool,
                      model: Any = User) -> list[User]:
        """GET /v1/users?<field>=v1&<field>=v2… in batches of 100 values,
        `lookup_concurrency` batches in flight (all paced by the budget).
        The first batch to fail cancels the others and its error is raised."""
        chunks = [list(values[i : i + LOOKUP_BATCH]) for i in range(0, len(values), LOOKUP_BATCH)]
        if len(chunks) <= 1 or self.lookup_concurrency <= 1:
            users: list[User] = []
            for chunk in chunks:
                users.extend(await self._lookup_batch(field, chunk, retry_rate_limited, model))
            return users
        gate = asyncio.Semaphore(self.lookup_concurrency)

        async def one(chunk: list[str]) -> list[User]:
            async with gate:
                return await self._lookup_batch(field, chunk, retry_rate_limited, model)

        tasks = [asyncio.ensure_future(one(chunk)) for chunk in chunks]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        failed = next((t.exception() for t in tasks if not t.cancelled() and t.exception() is not None), None)
        if failed is not None:
            raise failed
        return [user for task in tasks for user in task.result()]

    async def _lookup_batch(self, field: str, chunk: list[str], retry_rate_limited: bool,
                            model: Any = User) -> list[User]:
        users: list[User] = []
        offset = 0
        while True:
            page = await self.list_users(
                retry_rate_limited=retry_rate_limited, model=model,
                **{field: chunk, "limit": LIST_LIMIT, "offset": offset}
            )
            users.extend(page)
            if len(page) < LIST_LIMIT:
                return users
            offset += LIST_LIMIT

    def _scrub(self, text: str) -> str:
        return _scrub(text, self._key)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: Any = None,
        kind: str = "read",
        retry_rate_limited: bool = True,
        attempts: int | None = None,
        hide: Callable[[], Iterable[str]] | None = None,
        fast: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send one call through the budget; return the decoded JSON of a 2xx.
        `fast(body)`: parse a 2xx's bytes straight into models (pydantic's validate_json: JSON
        and validation in one pass); its result comes back as `_Parsed`. When it fails, the
        body goes the usual way (json.loads, then the caller's model_validate), so every error
        and its handling stay as they were.

        kind: "read" and "update" (idempotent: resent after 5xx/transport
        errors), "delete" (resent; a 404 on a resend means done), "create" and
        "write" (never resent: UnknownOutcome). `hide` gives more strings to
        scrub from what the server answers (a password)."""
        max_attempts = 1 if kind in NOT_RESENT else (attempts or self.read_attempts)
        attempt = 0
        where = f"{method} {path}"
        content: bytes | _SecretBody | None = None
        if isinstance(json_body, _SecretBody):
            content = json_body
        elif json_body is not None:
            try:
                content = json.dumps(json_body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise ClerkError(f"{where}: the body cannot be sent as JSON ({self._scrub(str(exc))})", code="invalid_body") from None
        while True:
            attempt += 1
            if self._refused is not None:
                raise self._refusal(where)
            await self.budget.acquire()
            if self._refused is not None:  # a 401 arrived while this call waited for its slot
                raise self._refusal(where)
            status, data, error = await self._exchange(method, path, params, content, where, hide, fast)
            # The error is raised here, in a frame that holds neither the httpx
            # exception (chained exceptions carry the request and its headers)
            # nor the raw answer.
            if error is None:
                self.budget.on_success()
                return data
            if isinstance(error, RateLimited):
                self.budget.on_rate_limited(error.retry_after)
                if retry_rate_limited:
                    self.rate_limited_resends += 1
                    attempt -= 1  # a 429 was not carried out: no attempt counted
                    continue
                raise error
            if isinstance(error, AuthenticationError) and self._refused is None:
                self._refused = error  # stop sending: every later call is refused unsent
            if status is not None and not isinstance(error, ServerError):
                self.budget.on_success()  # answered: the pace is fine
            if kind == "delete" and attempt > 1 and isinstance(error, NotFound):
                raise _GoneOnRetry()
            if kind in NOT_RESENT or not isinstance(error, UnknownOutcome) or attempt >= max_attempts:
                raise error
            self.retries += 1
            await self._clock.sleep(self._backoff(attempt))

    def _refusal(self, where: str) -> AuthenticationError:
        first = self._refused
        assert first is not None
        reason = first.long_message or first.message
        return AuthenticationError(
            f"{where}: not sent: the secret key was refused earlier (HTTP 401 {first.code})",
            status=401, code=first.code, trace_id=first.trace_id, meta=first.meta,
            long_message=f"{where} not sent: Clerk refused the secret key earlier in this run ({reason})",
        )

    async def _exchange(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None,
        content: "bytes | _SecretBody | None",
        where: str,
        hide: Callable[[], Iterable[str]] | None = None,
        fast: Callable[[bytes], Any] | None = None,
    ) -> tuple[int | None, Any, ClerkError | None]:
        """One request on the wire: (HTTP status or None, decoded 2xx JSON, error)."""
        error: ClerkError | None = None
        status: int | None = None
        headers: Any = None
        body = b""
        start = self._clock.now()
        self.requests_sent += 1
        raw = content.reveal() if isinstance(content, _SecretBody) else content
        try:
            if self._wire is not None:
                answer = await self._wire.request(
                    method, path, query=_encode_query(params) if params else "", body=raw,
                    headers=_JSON_CONTENT if raw is not None else None,
                )
                status, headers, body = answer
            else:
                assert self._http is not None
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    content=raw,
                    headers={"Content-Type": "application/json"} if raw is not None else None,
                )
                body = response.content  # read fully here, inside the timeout
                status, headers = response.status_code, response.headers
        except httpx.HTTPError as exc:
            error = self._transport_error(where, exc, hide)
        except OSError as exc:  # pragma: no cover - httpx maps these, belt and braces
            error = TransportError(f"{where}: {type(exc).__name__}", code="connection_error")
        del raw
        self._record(self._clock.now() - start, status if error is None else None)
        if error is not None or status is None:
            return None, None, error or TransportError(f"{where}: no answer", code="transport_error")
        if 200 <= status < 300:
            if fast is not None and body:
                try:
                    return status, _Parsed(fast(body)), None
                except ValidationError:
                    pass  # the usual way below says what is wrong, as it always did
            try:
                return status, (json.loads(body) if body else None), None
            except ValueError:
                return None, None, TransportError(
                    f"{where}: HTTP {status} with a body that is not JSON", code="malformed_response"
                )
        return status, None, self._http_error(where, status, headers, body, hide)

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return delay * self._rng.uniform(0.5, 1.0)

    def _record(self, latency: float, status: int | None) -> None:
        self.latencies.append(latency)
        if self.on_response is not None:
            try:
                self.on_response(latency, status)
            except Exception:  # a display hook must never break a request
                pass

    def _transport_error(self, where: str, exc: httpx.HTTPError,
                         hide: Callable[[], Iterable[str]] | None = None) -> ClerkError:
        # Only the class name and httpx's short message: never the request,
        # whose headers hold the key. The httpx exception is not chained.
        if isinstance(exc, httpx.ConnectTimeout):
            code = "connect_timeout"
        elif isinstance(exc, httpx.PoolTimeout):
            code = "pool_timeout"
        elif isinstance(exc, httpx.TimeoutException):
            code = "timeout"
        elif isinstance(exc, httpx.ConnectError):
            code = "connect_error"
        elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
            code = "connection_dropped"
        elif isinstance(exc, httpx.TransportError):
            code = "transport_error"
        else:
            code = "http_error"
        detail = str(exc).strip() or type(exc).__name__
        message = _hide(self._scrub(f"{where}: {type(exc).__name__}: {detail}"[:500]), hide)
        return TransportError(message, code=code)

    def _http_error(self, where: str, status: int, headers: Any, body: bytes,
                    hide: Callable[[], Iterable[str]] | None = None) -> ClerkError:
        """headers: anything with .get(lower-case name) (httpx.Headers, the wire's dict)."""
        code = "server_error" if status >= 500 else f"http_{status}"
        message = f"{where}: HTTP {status}"
        long_message = None
        param_name = None
        meta: dict = {}
        items: list[dict] = []
        trace_id = headers.get("x-clerk-trace-id") or headers.get("clerk-trace-id")
        try:
            parsed = ErrorBody.model_validate(json.loads(body)) if body else None
        except (ValueError, ValidationError):
            parsed = None
        if parsed is not None and parsed.errors:
            first = parsed.errors[0]
            code = first.code or code
            message = first.message or message
            long_message = first.long_message
            meta = _scrub_obj(dict(first.meta or {}), self._key, hide)
            param_name = meta.get("param_name")
            items = [_scrub_obj(item.model_dump(), self._key, hide) for item in parsed.errors]
            trace_id = parsed.clerk_trace_id or trace_id
        retry_after = parse_retry_after(headers.get("retry-after"))
        cls = error_class_for(status, code)

        def clean(text: str) -> str:
            return _hide(self._scrub(text), hide)

        error = cls(
            clean(message),
            status=status,
            code=clean(code),
            param_name=param_name,
            long_message=clean(long_message) if long_message else None,
            trace_id=clean(trace_id) if trace_id else None,
            retry_after=retry_after,
            meta=meta,
        )
        error.errors = tuple(items)
        return error

    def _parse(self, model: Any, data: Any, where: str, *, unknown_outcome: bool = False) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            text = f"{where}: the answer does not match Clerk's schema ({exc.error_count()} problem(s))"
            if unknown_outcome:
                raise TransportError(text, code="malformed_response") from None
            raise ClerkAPIError(text, code="malformed_response") from None


class _Parsed:
    """A 2xx already parsed into models by `_call(fast=…)`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_USER_LIST: TypeAdapter[list[User]] = TypeAdapter(list[User])
_ADAPTERS: dict[Any, TypeAdapter] = {}


def _list_adapter(model: Any) -> TypeAdapter:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])
    return adapter


class _GoneOnRetry(Exception):
    """Internal: a DELETE resend found nothing, an earlier attempt deleted it."""


def _normalise_base_url(value: str | None) -> str:
    """`https://api.clerk.com`: no trailing slash, no `/v1` (added per request)."""
    url = (value or DEFAULT_API_URL).strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


def _wire_is_safe(url: str) -> bool:
    parsed = httpx.URL(url)
    if parsed.scheme == "https":
        return True
    if parsed.scheme != "http":
        return False
    host = parsed.host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _header_safe(key: SecretKey) -> bool:
    value = key.reveal()
    return bool(value) and all(32 < ord(c) < 127 for c in value)


MIN_SECRET_PART = 8  # a shorter secret part is no real key, and replacing it would mangle text


def _scrub(text: str, key: SecretKey) -> str:
    """The text with the key replaced by its mask: the whole key, and its
    secret part alone (without `sk_live_`/`sk_test_`), as a server or proxy
    may echo either."""
    raw = key.reveal()
    if raw in text:
        text = text.replace(raw, key.masked)
    for prefix in ("sk_live_", "sk_test_"):
        if raw.startswith(prefix):
            part = raw[len(prefix):]
            if len(part) >= MIN_SECRET_PART and part in text:
                text = text.replace(part, "…" + part[-4:])
    return text


def _hide(text: str, hide: Callable[[], Iterable[str]] | None) -> str:
    if hide is not None:
        for secret in hide():
            if secret and secret in text:
                text = text.replace(secret, "[hidden]")
    return text


def _scrub_obj(value: Any, key: SecretKey, hide: Callable[[], Iterable[str]] | None = None) -> Any:
    if isinstance(value, str):
        return _hide(_scrub(value, key), hide)
    if isinstance(value, dict):
        return {k: _scrub_obj(v, key, hide) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_obj(v, key, hide) for v in value]
    return value


class _SecretBody:
    """A JSON body holding a secret (a password): its repr is masked, so a
    traceback that shows locals shows no password; encoded only when sent."""

    __slots__ = ("_body",)

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def reveal(self) -> bytes:
        return json.dumps(self._body, ensure_ascii=False).encode("utf-8")

    def values(self) -> list[str]:
        return [v for v in self._body.values() if isinstance(v, str) and v]

    def passwords(self) -> list[str]:
        value = self._body.get("password")
        return [value] if isinstance(value, str) and value else []

    def __repr__(self) -> str:
        return "_SecretBody(hidden)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a secret body cannot be pickled")




def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _segment(value: str) -> str:
    if not value:
        raise ValueError("a user id is required")
    return quote(str(value), safe="")


_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")


def _encode_query(pairs: list[tuple[str, str]]) -> str:
    """urlencode(pairs) (quote_plus), with a shortcut for the plain values lookups send by
    the hundred (`+user_2abc…`, an id made of letters, digits, `_`, `-`, `.`): the same text."""
    out = []
    for name, value in pairs:
        if value[:1] == "+" and _PLAIN.fullmatch(value, 1):
            out.append(f"{name}=%2B{value[1:]}")
        elif _PLAIN.fullmatch(value):
            out.append(f"{name}={value}")
        else:
            out.append(urlencode(((name, value),)))
    return "&".join(out)


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Clerk's query string: lists become repeated keys, booleans true/false,
    None is left out. external_id and user_id values go as `+<id>`: Clerk
    reads a leading `+`/`-` on them as include/exclude, so `+` makes any id
    (one that starts with `-` too) an exact match."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        exact = name in EXACT_ID_FILTERS
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                pairs.append((name, "true" if item else "false"))
            else:
                pairs.append((name, "+" + str(item) if exact else str(item)))
    return pairs
