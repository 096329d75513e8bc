"""The ASGI application: Clerk's user endpoints over the sandbox's store.

Every request under /v1 goes through the same steps, in this order:
read the body (capped), draw latency and faults (seeded, arrival order), wait
the latency, authenticate (401), check Clerk-API-Version (400), admit it into
the instance's rate-limit window (429 + Retry-After), then a drop or a 5xx
fault (nothing written), then the endpoint itself (4xx from validation), then
for a successful create an "ambiguous" fault (written, then 502 / hang / drop).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import suppress
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from console.sandbox import errors as E
from console.sandbox.config import SandboxConfig, kind_of_key
from console.sandbox.errors import ApiError
from console.sandbox.faults import Draw, Faults
from console.sandbox.instance_settings import environment_json
from console.sandbox.state import FILTERS, ORDER_FIELDS, Instance, Store, sort_key
from console.sandbox.validation import (
    validate_create,
    validate_email_create,
    validate_email_update,
    validate_metadata,
    validate_update,
    validate_verify_password,
)

log = logging.getLogger("console.sandbox")

API_VERSIONS = frozenset({"2021-02-05", "2024-10-01", "2025-04-10", "2025-11-10", "2026-05-12"})
MAX_FILTER_VALUES = 100
LIST_LIMIT_MAX = 500
LIST_LIMIT_DEFAULT = 10
# A body over max_body_bytes is still read (and thrown away) up to this much,
# so the client gets the 413 instead of a reset while it is still sending.
DRAIN_LIMIT = 64 * 1024 * 1024
TRANSPORT_KEY = "sandbox.transport"


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def error_response(exc: ApiError) -> Response:
    return Response(exc.body_bytes(), status_code=exc.status, headers=exc.headers,
                    media_type="application/json")


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _abort(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the connection without an answer (the client sees the server
    disconnect without sending a response)."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is None or transport.is_closing():
        # Fallback: promise a body and send none; the server then closes.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"64")]})
        return
    transport.abort()
    # Let the server see the disconnect, so that it does not answer by itself.
    with suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnect(receive), timeout=2.0)


class DropResponse(Response):
    def __init__(self) -> None:
        super().__init__(b"", status_code=599)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _abort(scope, receive, send)


class HangResponse(Response):
    """Hold the answer `hang_s` seconds, then send it, unless the client gave
    up first (nothing to send to) or the server is stopping (drop)."""

    def __init__(self, content: bytes, hang_s: float, stopping: asyncio.Event) -> None:
        super().__init__(content, status_code=200, media_type="application/json")
        self.hang_s = hang_s
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.ensure_future(_until_disconnect(receive))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            done, _ = await asyncio.wait({gone, stop}, timeout=self.hang_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (gone, stop):
                task.cancel()
        if gone in done:
            return
        if stop in done:
            await _abort(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class SandboxApp:
    """The sandbox's ASGI callable, and the state it serves."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self.store = Store(config)
        self.faults = Faults(config.seed)
        self.stopping = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/v1/users", self.create_user, methods=["POST"]),
                Route("/v1/users", self.list_users, methods=["GET"]),
                Route("/v1/users/count", self.count_users, methods=["GET"]),
                Route("/v1/users/{user_id}", self.get_user, methods=["GET"]),
                Route("/v1/users/{user_id}", self.delete_user, methods=["DELETE"]),
                Route("/v1/users/{user_id}", self.update_user, methods=["PATCH"]),
                Route("/v1/users/{user_id}/metadata", self.merge_metadata, methods=["PATCH"]),
                Route("/v1/users/{user_id}/metadata", self.replace_metadata, methods=["PUT"]),
                Route("/v1/users/{user_id}/ban", self.ban_user, methods=["POST"]),
                Route("/v1/users/{user_id}/unban", self.unban_user, methods=["POST"]),
                Route("/v1/users/{user_id}/verify_password", self.verify_password, methods=["POST"]),
                Route("/v1/email_addresses", self.create_email, methods=["POST"]),
                Route("/v1/email_addresses/{email_id}", self.get_email, methods=["GET"]),
                Route("/v1/email_addresses/{email_id}", self.update_email, methods=["PATCH"]),
                Route("/v1/email_addresses/{email_id}", self.delete_email, methods=["DELETE"]),
                Route("/v1/instance", self.get_instance, methods=["GET"]),
                # Clerk's Frontend API (no secret key): the instance's public settings
                Route("/v1/environment", self.environment, methods=["GET"]),
            ],
            exception_handlers={
                ApiError: self._on_api_error,
                HTTPException: self._on_http_exception,
                Exception: self._on_crash,
            },
        )

    @property
    def config(self) -> SandboxConfig:
        return self._config

    @config.setter
    def config(self, value: SandboxConfig) -> None:
        self._config = value
        self.store.config = value

    def reset(self) -> None:
        self.store.reset()
        self.faults.reseed(self._config.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # uvicorn's `send` is bound to the request cycle, which holds the
            # connection's transport: keep it for the "drop" fault.
            cycle = getattr(send, "__self__", None)
            scope[TRANSPORT_KEY] = getattr(cycle, "transport", None)
        await self.app(scope, receive, send)

    # --- error handlers ------------------------------------------------------
    async def _on_api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        mode = self._config.echo_key
        if mode:
            return self._echoing(request, exc, mode)
        return error_response(exc)

    @staticmethod
    def _echoing(request: Request, exc: ApiError, mode: str) -> Response:
        """The echo_key fault: the request's key, whole or without its
        sk_live_/sk_test_ prefix, in every message of the error answer."""
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if mode == "secret" and token[:8] in ("sk_live_", "sk_test_"):
            token = token[8:]
        body = exc.body()
        if token:
            for item in body["errors"]:
                item["message"] = f"{item['message']} (key {token})"
                item["long_message"] = f"{item['long_message']} The request was made with the key {token}."
                item["meta"] = {**item["meta"], "key": token}
        return Response(json.dumps(body).encode(), status_code=exc.status, headers=exc.headers,
                        media_type="application/json")

    async def _on_http_exception(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(E.method_not_allowed())
        if exc.status_code == 404:
            return error_response(E.not_found("resource"))
        return error_response(E.error(exc.status_code, "request_invalid", str(exc.detail)))

    async def _on_crash(self, request: Request, exc: Exception) -> Response:
        log.error("sandbox bug: %s: %s", type(exc).__name__, exc)
        return error_response(E.server_error(500))

    # --- the common steps ------------------------------------------------------
    async def _read_body(self, request: Request, limit: int) -> tuple[bytes, bool]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > DRAIN_LIMIT:
            return b"", True
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                break
            if size <= limit:
                chunks.append(chunk)
        if size > limit:
            return b"", True
        return b"".join(chunks), False

    def _authenticate(self, request: Request, config: SandboxConfig) -> tuple[str, str]:
        header = request.headers.get("authorization")
        scheme, _, key = (header or "").partition(" ")
        key = key.strip()
        if not header or scheme.lower() != "bearer" or not key or " " in key:
            with self.store.lock:
                self.store.auth_failures[""] += 1
            raise E.header_format_invalid()
        kind = kind_of_key(key)
        if kind is None or key in config.rejected_keys:
            with self.store.lock:
                self.store.auth_failures[key] += 1
            raise E.key_invalid()
        return key, kind

    async def _serve(
        self,
        request: Request,
        op: Callable[[Instance, bytes], Any],
        *,
        is_create: bool = False,
        with_body: bool = False,
        is_write: bool = False,
    ) -> Response:
        config = self._config
        body, too_large = await self._read_body(request, config.max_body_bytes) if with_body else (b"", False)
        # the ambiguous fault (written, then the answer lost) hits creates, and with
        # ambiguous_writes the writes of an existing user too (PATCH users, email addresses)
        draw: Draw = self.faults.draw(config, is_create=is_create or (is_write and config.ambiguous_writes))
        if draw.latency_s > 0:
            await asyncio.sleep(draw.latency_s)  # the simulated network + server time
        key, kind = self._authenticate(request, config)
        inst = self.store.instance(key, kind)
        version = request.headers.get("clerk-api-version")
        with self.store.lock:
            if version is not None:
                inst.api_versions[version] += 1
            retry_after = inst.window.admit(time.monotonic(), config.limit_for(kind), config.window_s)
            if retry_after is not None:
                inst.stats["rate_limited"] += 1
            else:
                inst.stats["requests"] += 1
                if is_create:
                    inst.stats["create_requests"] += 1
        if retry_after is not None:
            raise E.too_many_requests(retry_after)
        if version is not None and version not in API_VERSIONS:
            raise E.api_version_invalid(version)
        if draw.drop:
            inst.stats["dropped"] += 1
            return DropResponse()
        if draw.fail_status is not None:
            inst.stats["failed"] += 1
            raise E.server_error(draw.fail_status)
        if too_large:
            raise E.body_too_large(config.max_body_bytes)
        result = op(inst, body)
        if draw.ambiguous is not None:
            inst.stats[f"ambiguous_{draw.ambiguous}"] += 1
            if draw.ambiguous == "drop":
                return DropResponse()
            if draw.ambiguous == "hang":
                content = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
                return HangResponse(content, config.ambiguous_hang_s, self.stopping)
            raise E.server_error(502)
        return json_response(result)

    @staticmethod
    def _parse_object(body: bytes) -> dict[str, Any]:
        if not body.strip():
            raise E.body_invalid("it is empty; send a JSON object")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise E.body_invalid("it is not UTF-8") from None
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise E.body_invalid("it is not valid JSON") from None
        if not isinstance(value, dict):
            raise E.body_invalid(f"expected a JSON object, got a JSON {_json_type(value)}")
        return value

    # --- endpoints -------------------------------------------------------------
    async def create_user(self, request: Request) -> Response:
        def op(inst: Instance, body: bytes) -> dict[str, Any]:
            spec = validate_create(self._parse_object(body), self._config)
            return self.store.create(inst, spec)

        return await self._serve(request, op, is_create=True, with_body=True)

    async def update_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        version = request.headers.get("clerk-api-version")

        def op(inst: Instance, body: bytes) -> dict[str, Any]:
            self.store.get(inst, user_id)
            spec = validate_update(self._parse_object(body), self._config, version)
            return self.store.update(inst, user_id, spec)

        return await self._serve(request, op, with_body=True, is_write=True)

    async def merge_metadata(self, request: Request) -> Response:
        return await self._metadata(request, merge=True)

    async def replace_metadata(self, request: Request) -> Response:
        return await self._metadata(request, merge=False)

    async def _metadata(self, request: Request, *, merge: bool) -> Response:
        user_id = request.path_params["user_id"]

        def op(inst: Instance, body: bytes) -> dict[str, Any]:
            self.store.get(inst, user_id)
            return self.store.set_metadata(inst, user_id, validate_metadata(self._parse_object(body)), merge=merge)

        return await self._serve(request, op, with_body=True)

    async def ban_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        return await self._serve(request, lambda inst, _: self.store.set_banned(inst, user_id, True))

    async def unban_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        return await self._serve(request, lambda inst, _: self.store.set_banned(inst, user_id, False))

    async def verify_password(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]

        def op(inst: Instance, body: bytes) -> dict[str, Any]:
            self.store.get(inst, user_id)
            return self.store.verify_password(inst, user_id, validate_verify_password(self._parse_object(body)))

        return await self._serve(request, op, with_body=True)

    async def create_email(self, request: Request) -> Response:
        def op(inst: Instance, body: bytes) -> dict[str, Any]:
            user_id, address, verified, primary = validate_email_create(self._parse_object(body))
            return self.store.add_email(inst, user_id, address, verified, primary)

        return await self._serve(request, op, with_body=True, is_write=True)

    async def get_email(self, request: Request) -> Response:
        email_id = request.path_params["email_id"]
        return await self._serve(request, lambda inst, _: self.store.get_email(inst, email_id))

    async def update_email(self, request: Request) -> Response:
        email_id = request.path_params["email_id"]

        def op(inst: Instance, body: bytes) -> dict[str, Any]:
            self.store.get_email(inst, email_id)
            verified, primary = validate_email_update(self._parse_object(body))
            return self.store.update_email(inst, email_id, verified, primary)

        return await self._serve(request, op, with_body=True, is_write=True)

    async def delete_email(self, request: Request) -> Response:
        email_id = request.path_params["email_id"]
        return await self._serve(request, lambda inst, _: self.store.delete_email(inst, email_id), is_write=True)

    async def get_instance(self, request: Request) -> Response:
        def op(inst: Instance, _: bytes) -> dict[str, Any]:
            return {"object": "instance", "id": inst.instance_id, "environment_type": inst.key_kind,
                    "allowed_origins": None}

        return await self._serve(request, op)

    async def environment(self, request: Request) -> Response:
        """Clerk's Frontend API `GET /v1/environment`: public, no key, no rate
        limit, no faults (only the configured mean latency). Every instance of
        the sandbox shares these settings."""
        config = self._config
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000.0)
        return json_response(environment_json(config.user_settings))

    async def get_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        return await self._serve(request, lambda inst, _: self.store.get(inst, user_id))

    async def delete_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        return await self._serve(request, lambda inst, _: self.store.delete(inst, user_id))

    async def list_users(self, request: Request) -> Response:
        params = request.query_params

        def op(inst: Instance, _: bytes) -> list[dict[str, Any]]:
            filters, query = _filters(params)
            limit = _int_param(params, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
            offset = _int_param(params, "offset", 0, 0, None)
            order_by = params.get("order_by") or "-created_at"
            descending = order_by.startswith("-")
            field_name = order_by.lstrip("+-")
            if field_name not in ORDER_FIELDS or order_by.count("-") + order_by.count("+") > 1:
                raise E.error(422, "form_param_value_invalid", "is invalid",
                              f"order_by must be one of {', '.join(ORDER_FIELDS)}, "
                              "optionally prefixed with + or -.", param="order_by")
            users = self.store.select(inst, filters, query)
            users.sort(key=sort_key(field_name), reverse=descending)
            return users[offset: offset + limit]

        return await self._serve(request, op)

    async def count_users(self, request: Request) -> Response:
        params = request.query_params

        def op(inst: Instance, _: bytes) -> dict[str, Any]:
            filters, query = _filters(params)
            return {"object": "total_count", "total_count": len(self.store.select(inst, filters, query))}

        return await self._serve(request, op)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _filters(params: Any) -> tuple[dict[str, list[str]], str | None]:
    filters: dict[str, list[str]] = {}
    for name in FILTERS:
        values = params.getlist(name)
        if len(values) > MAX_FILTER_VALUES:
            raise E.error(422, "form_param_value_invalid", "is invalid",
                          f"{name} accepts at most {MAX_FILTER_VALUES} values, got {len(values)}.",
                          param=name)
        if values:
            filters[name] = values
    query = params.get("query")
    return filters, query or None


def _int_param(params: Any, name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise E.error(422, "form_param_value_invalid", "is invalid",
                      f"{name} must be an integer {bounds}.", param=name)
    return value
