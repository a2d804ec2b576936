"""The API clients: ``AsyncReflectiveClient`` (httpx.AsyncClient) and ``ReflectiveClient``
(httpx.Client). Both run the calls of :mod:`reflective_client.calls` the same way:

- a Bearer token on protected routes, refreshed once on a 401 when a refresh token is held
  (the server rotates refresh tokens, so the new pair is handed to ``on_tokens`` to persist);
- idempotent calls are retried on network errors and 502/503/504 with exponential backoff;
- error answers become the exceptions of :mod:`reflective_client.errors`.

The transport is injectable: pass ``transport=httpx.ASGITransport(app)`` to talk to an app
in-process, or ``http=`` an existing client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from reflective_client import calls
from reflective_client.calls import Call
from reflective_client.errors import (
    AuthError,
    NotSignedIn,
    TransportError,
    error_from_response,
)
from reflective_client.models import (
    Acknowledgement,
    AggregateResult,
    BackupPage,
    BackupStored,
    BatchItem,
    ChangeEvent,
    ChangePage,
    Conflict,
    Deleted,
    EncryptedEntry,
    EncryptionContext,
    MetricUpload,
    Preferences,
    Privacy,
    RevisionPage,
    Revoked,
    SessionInfo,
    SyncDeviceInfo,
    Tag,
    TagCreated,
    Tokens,
    UserProfile,
)

T = TypeVar("T")
DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
_RETRY_STATUSES = frozenset({502, 503, 504})
TokenListener = Callable[[Tokens | None], None]


class _Session:
    """Tokens and the rules about them, shared by both clients."""

    def __init__(
        self, tokens: Tokens | None, on_tokens: TokenListener | None, retries: int, backoff: float
    ) -> None:
        self.tokens = tokens
        self.on_tokens = on_tokens
        self.retries = retries
        self.backoff = backoff

    def set_tokens(self, tokens: Tokens | None) -> None:
        self.tokens = tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)

    def headers(self, call: Call[Any]) -> dict[str, str]:
        if not call.auth:
            return {}
        if self.tokens is None:
            raise NotSignedIn("not signed in: log in first")
        return {"Authorization": f"Bearer {self.tokens.access_token}"}

    def can_refresh(self, call: Call[Any], response: httpx.Response) -> bool:
        return (
            response.status_code == 401
            and call.auth
            and self.tokens is not None
            and self.tokens.refresh_token is not None
        )

    def attempts(self, call: Call[Any]) -> int:
        return 1 + (self.retries if call.idempotent else 0)

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := response.headers.get("Retry-After", "")).isdigit():
            return min(float(after), 30.0)
        return float(self.backoff * (2**attempt))

    @staticmethod
    def request_args(call: Call[Any], headers: dict[str, str]) -> dict[str, Any]:
        args: dict[str, Any] = {"headers": headers}
        if call.json is not None:
            args["json"] = call.json
        if call.form is not None:
            args["data"] = call.form
        if call.params:
            args["params"] = call.params
        if call.timeout is not None:
            args["timeout"] = call.timeout
        return args

    @staticmethod
    def result(call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_from_response(response)
        return call.read(response)


def _transport_error(call: Call[Any], exc: httpx.TransportError) -> TransportError:
    # The exception's own text can hold the URL with query parameters: name the type only.
    return TransportError(f"{call.method} {call.path}: no answer ({type(exc).__name__})")


class AsyncReflectiveClient:
    """The whole API, async. ``async with AsyncReflectiveClient(url) as api: ...``"""

    def __init__(
        self,
        base_url: str = DEFAULT_SERVER,
        *,
        tokens: Tokens | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_tokens: TokenListener | None = None,
        retries: int = 3,
        backoff: float = 0.25,
    ) -> None:
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(
            base_url=base_url.rstrip("/"), transport=transport, timeout=timeout
        )
        self.session = _Session(tokens, on_tokens, retries, backoff)
        self._refresh_lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncReflectiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    @property
    def tokens(self) -> Tokens | None:
        return self.session.tokens

    async def call(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer, with the retries and refresh described above."""
        response = await self._send(call)
        if self.session.can_refresh(call, response):
            await self._refresh_after(call, response)
            response = await self._send(call)
        return self.session.result(call, response)

    async def _send(self, call: Call[Any]) -> httpx.Response:
        attempts = self.session.attempts(call)
        for attempt in range(attempts):
            response: httpx.Response | None = None
            try:
                response = await self.http.request(
                    call.method,
                    call.path,
                    **self.session.request_args(call, self.session.headers(call)),
                )
                if response.status_code not in _RETRY_STATUSES or attempt == attempts - 1:
                    return response
            except httpx.TransportError as exc:
                if attempt == attempts - 1:
                    raise _transport_error(call, exc) from None
            await asyncio.sleep(self.session.delay(attempt, response))
        raise AssertionError("unreachable")

    async def _refresh_after(self, call: Call[Any], failed: httpx.Response) -> None:
        used = failed.request.headers.get("Authorization", "")
        async with self._refresh_lock:
            tokens = self.session.tokens
            if tokens is None or tokens.refresh_token is None:
                raise error_from_response(failed)
            if used != f"Bearer {tokens.access_token}":
                return  # another task refreshed while this one waited
            try:
                await self.refresh()
            except AuthError:
                self.session.set_tokens(None)
                raise

    # --- auth -------------------------------------------------------------------------

    async def register(
        self,
        email: str,
        password: str,
        display_name: str | None = None,
        timezone: str | None = None,
        locale: str | None = None,
    ) -> UserProfile:
        return await self.call(calls.register(email, password, display_name, timezone, locale))

    async def login(self, email: str, password: str) -> Tokens:
        tokens = await self.call(calls.token(email, password))
        self.session.set_tokens(tokens)
        return tokens

    async def refresh(self) -> Tokens:
        held = self.session.tokens
        if held is None or held.refresh_token is None:
            raise NotSignedIn("no refresh token: log in again")
        tokens = await self.call(calls.refresh(held.refresh_token))
        self.session.set_tokens(tokens)
        return tokens

    async def logout(self, everywhere: bool = False) -> None:
        held = self.session.tokens
        refresh = None if everywhere or held is None else held.refresh_token
        try:
            await self.call(calls.logout(refresh))
        finally:
            self.session.set_tokens(None)

    # --- users ------------------------------------------------------------------------

    async def me(self) -> UserProfile:
        return await self.call(calls.me())

    async def update_me(self, **changes: Any) -> UserProfile:
        return await self.call(calls.update_me(**changes))

    async def preferences(self) -> Preferences:
        return await self.call(calls.preferences())

    async def update_preferences(self, **changes: Any) -> Preferences:
        return await self.call(calls.update_preferences(**changes))

    async def privacy(self) -> Privacy:
        return await self.call(calls.privacy())

    async def set_privacy(
        self, tier: str, he_public_key: bytes | None = None, consent_at: datetime | None = None
    ) -> Privacy:
        return await self.call(calls.set_privacy(tier, he_public_key, consent_at))

    async def revoke(self) -> Revoked:
        return await self.call(calls.revoke())

    async def export(self) -> dict[str, Any]:
        return await self.call(calls.export())

    async def delete_account(self, password: str) -> None:
        await self.call(calls.delete_account(password))
        self.session.set_tokens(None)

    # --- tags -------------------------------------------------------------------------

    async def tags(self) -> list[Tag]:
        return await self.call(calls.tags())

    async def create_tag(self, name: str, color: str | None = None) -> TagCreated:
        return await self.call(calls.create_tag(name, color))

    async def update_tag(
        self, tag_id: str, name: str | None = None, color: str | None = None, used: bool = False
    ) -> Tag:
        return await self.call(calls.update_tag(tag_id, name, color, used))

    async def delete_tag(self, tag_id: str) -> None:
        await self.call(calls.delete_tag(tag_id))

    async def cleanup_tags(self, days: int = 30) -> Deleted:
        return await self.call(calls.cleanup_tags(days))

    # --- homomorphic analytics ----------------------------------------------------------

    async def encryption_context(self) -> EncryptionContext:
        return await self.call(calls.encryption_context())

    async def upload_metrics(self, metrics: Sequence[MetricUpload]) -> int:
        return await self.call(calls.upload_metrics(metrics))

    async def aggregate(
        self,
        metric_type: str,
        operation: str = "sum",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> AggregateResult:
        return await self.call(calls.aggregate(metric_type, operation, start, end))

    # --- sync -------------------------------------------------------------------------

    async def upload_backup(
        self, entry: EncryptedEntry, base_revision: int | None = None
    ) -> BackupStored:
        return await self.call(calls.upload_backup(entry, base_revision))

    async def upload_batch(
        self, entries: Sequence[tuple[EncryptedEntry, int | None]], atomic: bool = False
    ) -> list[BatchItem]:
        return await self.call(calls.upload_batch(entries, atomic))

    async def backups(
        self,
        since: datetime | None = None,
        device_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> BackupPage:
        return await self.call(calls.backups(since, device_id, limit, offset))

    async def changes(
        self, cursor: str | None = None, device_id: str | None = None, limit: int = 100
    ) -> ChangePage:
        return await self.call(calls.changes(cursor, device_id, limit))

    async def delete_backup(self, entry_id: str, device_id: str | None = None) -> Acknowledgement:
        return await self.call(calls.delete_backup(entry_id, device_id))

    async def delete_all_backups(self) -> Deleted:
        return await self.call(calls.delete_all_backups())

    async def revisions(
        self, entry_id: str, cursor: str | None = None, limit: int = 100
    ) -> RevisionPage:
        return await self.call(calls.revisions(entry_id, cursor, limit))

    async def delete_revisions(self, entry_id: str) -> None:
        await self.call(calls.delete_revisions(entry_id))

    async def delete_all_metrics(self) -> Deleted:
        return await self.call(calls.delete_all_metrics())

    async def retract_metrics(self, log_id: str) -> int:
        return await self.call(calls.retract_metrics(log_id))

    async def conflicts(self) -> list[Conflict]:
        return await self.call(calls.conflicts())

    async def resolve_conflict(
        self,
        conflict_id: str,
        chosen_version: str,
        merged: EncryptedEntry | None = None,
        device_id: str | None = None,
    ) -> Acknowledgement:
        return await self.call(
            calls.resolve_conflict(conflict_id, chosen_version, merged, device_id)
        )

    async def health(self) -> dict[str, Any]:
        return await self.call(calls.health())

    # --- live sync, sessions, devices ------------------------------------------------------

    async def events(self, last_event_id: str | None = None) -> AsyncIterator[ChangeEvent]:
        """The account's change stream (Server-Sent Events), event by event, heartbeats
        left out, until the server ends it. The access token is refreshed once on a 401."""
        call = calls.events()
        for attempt in range(2):
            headers = self.session.headers(call)
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            stream_timeout = httpx.Timeout(self.http.timeout.connect, read=None)
            try:
                async with self.http.stream(
                    "GET", call.path, headers=headers, timeout=stream_timeout
                ) as response:
                    if attempt == 0 and self.session.can_refresh(call, response):
                        await response.aread()
                        await self._refresh_after(call, response)
                        continue
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from_response(response)
                    async for event in read_events(response.aiter_lines()):
                        yield event
                    return
            except httpx.TransportError as exc:
                raise _transport_error(call, exc) from None

    async def event_ticket(self) -> str:
        """A single-use, 60-second ticket for ``/api/sync/events?ticket=``."""
        return await self.call(calls.event_ticket())

    async def sessions(self) -> list[SessionInfo]:
        return await self.call(calls.sessions())

    async def end_session(self, session_id: str) -> None:
        await self.call(calls.end_session(session_id))

    async def devices(self) -> list[SyncDeviceInfo]:
        return await self.call(calls.devices())

    async def forget_device(self, device_id: str) -> None:
        await self.call(calls.forget_device(device_id))


async def read_events(lines: AsyncIterator[str]) -> AsyncIterator[ChangeEvent]:
    """Server-Sent Events from a stream's lines: data events parsed, the ``subscribed``
    comment reported, other comments (heartbeats) skipped."""
    data: list[str] = []
    event_id: str | None = None
    comments: list[str] = []
    async for line in lines:
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                comments.append(value)
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
            continue
        if data:
            try:
                parsed = json.loads("\n".join(data))
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                yield ChangeEvent.parse(parsed, event_id)
        elif "subscribed" in comments:
            yield ChangeEvent("subscribed")
        data, comments, event_id = [], [], None


class ReflectiveClient:
    """The whole API, blocking: the same methods as :class:`AsyncReflectiveClient`."""

    def __init__(
        self,
        base_url: str = DEFAULT_SERVER,
        *,
        tokens: Tokens | None = None,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_tokens: TokenListener | None = None,
        retries: int = 3,
        backoff: float = 0.25,
    ) -> None:
        self._owns_http = http is None
        self.http = http or httpx.Client(
            base_url=base_url.rstrip("/"), transport=transport, timeout=timeout
        )
        self.session = _Session(tokens, on_tokens, retries, backoff)

    def __enter__(self) -> ReflectiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    @property
    def tokens(self) -> Tokens | None:
        return self.session.tokens

    def call(self, call: Call[T]) -> T:
        response = self._send(call)
        if self.session.can_refresh(call, response):
            try:
                self.refresh()
            except AuthError:
                self.session.set_tokens(None)
                raise
            response = self._send(call)
        return self.session.result(call, response)

    def _send(self, call: Call[Any]) -> httpx.Response:
        attempts = self.session.attempts(call)
        for attempt in range(attempts):
            response: httpx.Response | None = None
            try:
                response = self.http.request(
                    call.method,
                    call.path,
                    **self.session.request_args(call, self.session.headers(call)),
                )
                if response.status_code not in _RETRY_STATUSES or attempt == attempts - 1:
                    return response
            except httpx.TransportError as exc:
                if attempt == attempts - 1:
                    raise _transport_error(call, exc) from None
            time.sleep(self.session.delay(attempt, response))
        raise AssertionError("unreachable")

    # --- auth -------------------------------------------------------------------------

    def register(
        self,
        email: str,
        password: str,
        display_name: str | None = None,
        timezone: str | None = None,
        locale: str | None = None,
    ) -> UserProfile:
        return self.call(calls.register(email, password, display_name, timezone, locale))

    def login(self, email: str, password: str) -> Tokens:
        tokens = self.call(calls.token(email, password))
        self.session.set_tokens(tokens)
        return tokens

    def refresh(self) -> Tokens:
        held = self.session.tokens
        if held is None or held.refresh_token is None:
            raise NotSignedIn("no refresh token: log in again")
        tokens = self.call(calls.refresh(held.refresh_token))
        self.session.set_tokens(tokens)
        return tokens

    def logout(self, everywhere: bool = False) -> None:
        held = self.session.tokens
        refresh = None if everywhere or held is None else held.refresh_token
        try:
            self.call(calls.logout(refresh))
        finally:
            self.session.set_tokens(None)

    # --- users ------------------------------------------------------------------------

    def me(self) -> UserProfile:
        return self.call(calls.me())

    def update_me(self, **changes: Any) -> UserProfile:
        return self.call(calls.update_me(**changes))

    def preferences(self) -> Preferences:
        return self.call(calls.preferences())

    def update_preferences(self, **changes: Any) -> Preferences:
        return self.call(calls.update_preferences(**changes))

    def privacy(self) -> Privacy:
        return self.call(calls.privacy())

    def set_privacy(
        self, tier: str, he_public_key: bytes | None = None, consent_at: datetime | None = None
    ) -> Privacy:
        return self.call(calls.set_privacy(tier, he_public_key, consent_at))

    def revoke(self) -> Revoked:
        return self.call(calls.revoke())

    def export(self) -> dict[str, Any]:
        return self.call(calls.export())

    def delete_account(self, password: str) -> None:
        self.call(calls.delete_account(password))
        self.session.set_tokens(None)

    # --- tags -------------------------------------------------------------------------

    def tags(self) -> list[Tag]:
        return self.call(calls.tags())

    def create_tag(self, name: str, color: str | None = None) -> TagCreated:
        return self.call(calls.create_tag(name, color))

    def update_tag(
        self, tag_id: str, name: str | None = None, color: str | None = None, used: bool = False
    ) -> Tag:
        return self.call(calls.update_tag(tag_id, name, color, used))

    def delete_tag(self, tag_id: str) -> None:
        self.call(calls.delete_tag(tag_id))

    def cleanup_tags(self, days: int = 30) -> Deleted:
        return self.call(calls.cleanup_tags(days))

    # --- homomorphic analytics ----------------------------------------------------------

    def encryption_context(self) -> EncryptionContext:
        return self.call(calls.encryption_context())

    def upload_metrics(self, metrics: Sequence[MetricUpload]) -> int:
        return self.call(calls.upload_metrics(metrics))

    def aggregate(
        self,
        metric_type: str,
        operation: str = "sum",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> AggregateResult:
        return self.call(calls.aggregate(metric_type, operation, start, end))

    # --- sync -------------------------------------------------------------------------

    def upload_backup(
        self, entry: EncryptedEntry, base_revision: int | None = None
    ) -> BackupStored:
        return self.call(calls.upload_backup(entry, base_revision))

    def upload_batch(
        self, entries: Sequence[tuple[EncryptedEntry, int | None]], atomic: bool = False
    ) -> list[BatchItem]:
        return self.call(calls.upload_batch(entries, atomic))

    def backups(
        self,
        since: datetime | None = None,
        device_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> BackupPage:
        return self.call(calls.backups(since, device_id, limit, offset))

    def changes(
        self, cursor: str | None = None, device_id: str | None = None, limit: int = 100
    ) -> ChangePage:
        return self.call(calls.changes(cursor, device_id, limit))

    def delete_backup(self, entry_id: str, device_id: str | None = None) -> Acknowledgement:
        return self.call(calls.delete_backup(entry_id, device_id))

    def delete_all_backups(self) -> Deleted:
        return self.call(calls.delete_all_backups())

    def revisions(self, entry_id: str, cursor: str | None = None, limit: int = 100) -> RevisionPage:
        return self.call(calls.revisions(entry_id, cursor, limit))

    def delete_revisions(self, entry_id: str) -> None:
        self.call(calls.delete_revisions(entry_id))

    def delete_all_metrics(self) -> Deleted:
        return self.call(calls.delete_all_metrics())

    def retract_metrics(self, log_id: str) -> int:
        return self.call(calls.retract_metrics(log_id))

    def conflicts(self) -> list[Conflict]:
        return self.call(calls.conflicts())

    def resolve_conflict(
        self,
        conflict_id: str,
        chosen_version: str,
        merged: EncryptedEntry | None = None,
        device_id: str | None = None,
    ) -> Acknowledgement:
        return self.call(calls.resolve_conflict(conflict_id, chosen_version, merged, device_id))

    def health(self) -> dict[str, Any]:
        return self.call(calls.health())
