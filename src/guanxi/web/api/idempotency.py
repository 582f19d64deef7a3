"""The ``Idempotency-Key`` layer in front of every /api/v1 write (IETF httpapi draft semantics).

``IdempotencyMiddleware`` sees each POST/PUT/PATCH/DELETE under /api/ that carries an
``Idempotency-Key`` header and a bearer token. It claims the key for the client (see
``guanxi.services.api_idempotency``), runs the request, stores the response and sends it; a
retry with the same key and body gets that response again with ``Idempotent-Replayed: true``;
the same key with another body gets 422 ``idempotency_key_reused``; a retry while the first is
still running gets 409 ``idempotency_key_in_flight`` with ``Retry-After``. A write without the
header runs as before (endpoints that must have one, such as a redemption, say so with 400).

It is plain ASGI rather than a FastAPI dependency so that it wraps the whole request (the
body is read once and handed on) and covers every write endpoint, including new ones, without
each route having to remember it. Database calls run in the thread pool.

Failures: while the request runs its claim is renewed every ``HEARTBEAT``, so a worker killed
mid-request leaves a claim that the client's retry takes over after ``STALE_AFTER``. A
database that is busy or unreachable when the key is claimed gives 503 ``unavailable`` with
``Retry-After`` (nothing was done); when it fails only while storing or forgetting the
response, the client still gets the response, and the worker keeps trying to store or forget
it in the background for ``RETRY_BOOKKEEPING`` (a restarting PostgreSQL is back by then); if
that fails too, the claim goes stale as above.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guanxi.services import api_idempotency as keys
from guanxi.services.staff import token_digest
from guanxi.web.api.errors import BadIdempotencyKey, error_body
from guanxi.web.errors import database_failure

log = logging.getLogger(__name__)
RETRY_BOOKKEEPING = (30, 1.0)  # tries, seconds between them
_pending: set[asyncio.Task[None]] = set()  # bookkeeping retried in the background

KEY_HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 100
KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEPT_HEADERS = ("content-type", "location")


def idempotency_key(raw: str | None) -> str:
    """The header's key: a string of 1-100 visible ASCII characters, quotes optional."""
    if raw is None or not raw.strip():
        raise BadIdempotencyKey(
            "idempotency_key_missing",
            f"send an {KEY_HEADER} header with a new unique value (a UUID) for each "
            "request, and the same value when you retry it: without one a retry could "
            "do it twice",
        )
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]  # a structured-field string, as the draft writes it
    if not (0 < len(key) <= MAX_KEY and KEY_CHARS.match(key)):
        raise BadIdempotencyKey(
            "idempotency_key_invalid",
            f"the {KEY_HEADER} must be 1-{MAX_KEY} visible ASCII characters without "
            "spaces (a UUID is a good key)",
        )
    return key


class IdempotencyMiddleware:
    """Replays, refuses or runs API writes that carry an ``Idempotency-Key``."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        raw_key = headers.get(KEY_HEADER)
        token = _bearer(headers.get("authorization"))
        if raw_key is None or token is None:  # no key: as before; no token: the route says 401
            await self.app(scope, receive, send)
            return
        try:
            key = idempotency_key(raw_key)
        except BadIdempotencyKey as exc:
            await _send_json(send, 400, error_body(exc.code, str(exc)))
            return
        body = await _read_body(receive)
        db = scope["app"].state.guanxi.db
        request = f"{scope['method']} {scope['path']}"
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            claimed = await run_in_threadpool(
                lambda: keys.claim(db, client=token_digest(token), key=key, request=request,
                                   fingerprint=keys.fingerprint(scope["method"], scope["path"],
                                                                query, body))
            )  # fmt: skip
        except Exception as exc:  # the database is busy, away, read-only or full: nothing done
            failure = database_failure(exc)
            if failure is None:
                raise
            code, message, retry_after = failure
            retry = [] if retry_after is None else [(b"retry-after", str(retry_after).encode())]
            await _send_json(send, 503, error_body(code, message), extra_headers=retry)
            return
        if claimed.outcome == "new":
            assert claimed.row_id is not None
            await self._run(scope, receive, send, body, db, claimed.row_id)
        elif claimed.outcome == "replay":
            assert claimed.stored is not None
            await _send_stored(send, claimed.stored)
        elif claimed.outcome == "in_flight":
            message = (f"a request with this {KEY_HEADER} is still being processed; "
                       "retry it with the same key in a moment")  # fmt: skip
            await _send_json(send, 409, error_body("idempotency_key_in_flight", message),
                             extra_headers=[(b"retry-after", b"1")])  # fmt: skip
        else:
            message = (
                f"this {KEY_HEADER} was used before for a different request: use a "
                "new key for a new request, and the same key only to retry the same one"
            )
            await _send_json(send, 422, error_body("idempotency_key_reused", message))

    def _applies(self, scope: Scope) -> bool:
        return (scope["type"] == "http" and scope["method"] in WRITES
                and str(scope["path"]).startswith(self.prefix))  # fmt: skip

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, db: Any, row_id: int
    ) -> None:
        """Run the request on the buffered body; keep its response (or forget the claim)."""
        sent_body = False

        async def replay_body() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        beat = asyncio.create_task(_heartbeat(db, row_id))
        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await _quietly(keys.release, db, row_id)
            raise
        finally:
            beat.cancel()
        stored = _stored(captured)
        if stored is not None and keys.keeps(stored.status_code):
            await _quietly(lambda: keys.complete(db, row_id, stored))
        else:
            await _quietly(keys.release, db, row_id)
        for message in captured:
            await send(message)


async def _heartbeat(db: Any, row_id: int) -> None:
    """Renew the claim while the request runs, so that only a dead worker's claim goes stale."""
    while True:
        await asyncio.sleep(keys.HEARTBEAT.total_seconds())
        await _quietly(keys.touch, db, row_id, again=False)


async def _quietly(work: Callable[..., None], *args: Any, again: bool = True) -> bool:
    """Run a bookkeeping write; when the database is busy or unreachable, try it again in the
    background (``again``) and go on: that never costs the client its answer."""
    try:
        await run_in_threadpool(work, *args)
        return True
    except Exception as exc:
        if database_failure(exc) is None:
            raise
        if again:
            log.warning("Idempotency-Key bookkeeping delayed: %s", exc.__class__.__name__)
            task = asyncio.create_task(_later(work, *args))
            _pending.add(task)
            task.add_done_callback(_pending.discard)
        return False


async def _later(work: Callable[..., None], *args: Any) -> None:
    tries, pause = RETRY_BOOKKEEPING
    for _ in range(tries):
        await asyncio.sleep(pause)
        if await _quietly(work, *args, again=False):
            return
    log.warning("Idempotency-Key bookkeeping given up: the claim goes stale")


def _bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _stored(messages: list[Message]) -> keys.Stored | None:
    """The response the app sent, as kept for replay (None: not a complete UTF-8 answer)."""
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None:
        return None
    raw = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    kept = {k: headers[k] for k in KEPT_HEADERS if k in headers}
    return keys.Stored(int(start["status"]), kept, text)


async def _send_stored(send: Send, stored: keys.Stored) -> None:
    body = stored.body.encode()
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers.items()]
    headers += [(REPLAYED.lower().encode(), b"true"),
                (b"content-length", str(len(body)).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send,
    status: int,
    content: dict[str, Any],
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(content, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *(extra_headers or [])]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
