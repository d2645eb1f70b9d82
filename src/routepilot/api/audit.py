"""The audit log: every write made through the API, recorded whatever route it reaches.

An ASGI middleware, not a decorator: a route added later is audited without
its code knowing. For every request whose method changes something (anything
but GET, HEAD, OPTIONS) it keeps the request body, lets the app answer, and
appends one record — who (the caller the route's role check identified), when,
from which address, which action, the request, the answer (the resulting
state, or the error) and the outcome — before the answer's last byte leaves,
so a client that got its answer finds the record. Refused and failed writes are
recorded too. Tokens, passwords and secrets are replaced by ``***`` first.

The log is appended to only: the API has no route that changes or deletes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routepilot.api.auth import PRINCIPAL_KEY, SAFE_METHODS
from routepilot.log import get_logger
from routepilot.store.base import AuditRecord

log = get_logger(__name__)

MAX_KEPT = 8192
"""Characters of a request or an answer kept in its record; longer ones are cut, and say so."""


def secret_key(key: Any) -> bool:
    k = str(key).lower()
    return any(w in k for w in ("token", "secret", "password"))


def redact(value: Any) -> Any:
    """The value with every key naming a token, secret or password masked, at any depth
    (a flag such as ``has_password`` is no secret: only a null or a boolean stays)."""
    if isinstance(value, dict):
        return {
            k: "***" if v is not None and not isinstance(v, bool) and secret_key(k)
            else redact(v)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _text(body: bytes) -> str:
    """JSON text of a body, redacted; a body that is not JSON is described, not kept."""
    if not body:
        return "null"
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return json.dumps({"unreadable_body_bytes": len(body)})
    text = json.dumps(redact(value), separators=(",", ":"), sort_keys=True)
    if len(text) > MAX_KEPT:
        return json.dumps({"truncated": text[:MAX_KEPT]})
    return text


class AuditMiddleware:
    """Records every write in ``append(record)`` (called on a worker thread)."""

    def __init__(
        self,
        app: ASGIApp,
        append: Callable[[AuditRecord], object],
        identify: Callable[[Scope], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.append = append
        self.identify = identify
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        started = self.clock()
        # Who the credentials name, whatever happens next (a 400 or a 404 comes before any
        # role check); a route that identifies the caller itself (a login) overrides it.
        try:
            caller = await run_in_threadpool(self.identify, scope)
        except Exception:  # an unreadable credential names nobody
            caller = None
        request = bytearray()
        answer = bytearray()
        status = 500

        async def receive_kept() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request) <= MAX_KEPT * 4:
                request.extend(message.get("body", b""))
            return message

        async def send_after_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                if len(answer) <= MAX_KEPT * 4:
                    answer.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._record(
                        scope, caller, started, bytes(request), bytes(answer), status
                    )
            await send(message)

        await self.app(scope, receive_kept, send_after_record)

    async def _record(
        self,
        scope: Scope,
        caller: str | None,
        started: float,
        request: bytes,
        answer: bytes,
        status: int,
    ) -> None:
        who = scope.get(PRINCIPAL_KEY)
        route = scope.get("route")
        client = scope.get("client")
        record = AuditRecord(
            time=started,
            user=caller if who is None else who.name,
            address=client[0] if client else None,
            action=getattr(route, "name", None) or "unmatched",
            method=scope["method"],
            path=scope.get("path", "")[:512],
            request=_text(request),
            change=_text(answer),
            status=status,
            outcome="ok" if status < 400 else "refused" if status < 500 else "failed",
        )
        try:
            await run_in_threadpool(self.append, record)
        except Exception as exc:  # the answer still goes out; the loss is logged loudly
            log.error("audit record lost", action=record.action, user=record.user, error=repr(exc))
