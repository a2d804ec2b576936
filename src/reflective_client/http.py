"""The API client, ``AsyncReflectiveClient`` (httpx.AsyncClient): one method per endpoint,
sending and receiving the protocol's Structs (:mod:`reflective_protocol`, encoded and
decoded by msgspec), with:

- a Bearer token on protected routes, refreshed once on a 401 when a refresh token is held
  (the server rotates refresh tokens, so the new pair is handed to ``on_tokens`` to persist);
- idempotent calls retried on network errors and 502/503/504 with exponential backoff;
- error answers turned into the exceptions of :mod:`reflective_client.errors`.

Blocking code runs it with ``asyncio.run``, as the CLI does. The transport is injectable: pass
``transport=httpx.ASGITransport(app)`` to talk to an app in-process, or ``http=`` an existing
client.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from reflective_client.errors import (
    AuthError,
    NotSignedIn,
    TransportError,
    error_from_response,
)
from reflective_client.models import ChangeEvent, EncryptedEntry, TagCreated, Tokens
from reflective_client.wire import format_time, now
from reflective_protocol.auth import LogoutRequest, RefreshRequest, RegisterRequest, TokenResponse
from reflective_protocol.common import Message
from reflective_protocol.encryption import (
    AggregateRequest,
    AggregateResponse,
    ContextResponse,
    MetricItem,
    MetricsUpload,
    Operation,
    PackedAggregateResponse,
    PackedItem,
    PackedUploadRequest,
    PackedWindowView,
    TimeRangeView,
)
from reflective_protocol.export import ExportDocument
from reflective_protocol.live import (
    DeviceList,
    DeviceView,
    EventTicketResponse,
    SessionList,
    SessionView,
)
from reflective_protocol.ops import Health
from reflective_protocol.privacy import PrivacyView, RevokeResponse, Tier, UpdatePrivacyRequest
from reflective_protocol.sync import (
    BackupList,
    BackupStored,
    BatchItem,
    BatchStored,
    BatchUpload,
    ChangeList,
    ChosenVersion,
    ConflictItem,
    ConflictList,
    DeletedBackups,
    DeletedMetrics,
    ResolveRequest,
    RevisionList,
)
from reflective_protocol.tags import CleanupResponse, CreateTagRequest, TagView, UpdateTagRequest
from reflective_protocol.users import (
    DeleteAccountRequest,
    PreferencesView,
    UpdatePreferencesRequest,
    UpdateProfileRequest,
    UserProfile,
)

T = TypeVar("T")
PageT = TypeVar("PageT", SessionList, DeviceList)
DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
# The web client gives the one big metrics upload 30 s; leave more room for slow links.
METRICS_TIMEOUT = 120.0
BATCH_MAX_ITEMS = 500
CONFLICT_PAGE = 500  # the server's largest page
WHOLE_LIST_PAGE = 500  # sessions and devices: read whole, the largest page at a time
EVENTS_PATH = "/api/sync/events"
_RETRY_STATUSES = frozenset({502, 503, 504})
TokenListener = Callable[[Tokens | None], None]
Id = str | uuid.UUID


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T] = field(repr=False)
    body: msgspec.Struct | None = field(default=None, repr=False)
    form: dict[str, str] | None = field(default=None, repr=False)
    params: dict[str, Any] | None = None
    auth: bool = True
    idempotent: bool = False
    """Safe to send again after a lost answer (retried on network errors)."""
    timeout: float | None = None


def _decode(answer: type[T]) -> Callable[[httpx.Response], T]:
    return lambda response: msgspec.json.decode(response.content, type=answer)


def _nothing(response: httpx.Response) -> None:
    return None


def _count(key: str) -> Callable[[httpx.Response], int]:
    """A number from an acknowledgement's ``details``."""
    return lambda response: int(_decode(Message)(response).details[key])


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _transport_error(call: Call[Any], exc: httpx.TransportError) -> TransportError:
    # The exception's own text can hold the URL with query parameters: name the type only.
    return TransportError(f"{call.method} {call.path}: no answer ({type(exc).__name__})")


class AsyncReflectiveClient:
    """The whole API. ``async with AsyncReflectiveClient(url) as api: ...``"""

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
        self._tokens = tokens
        self.on_tokens = on_tokens
        self.retries = retries
        self.backoff = backoff
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
        return self._tokens

    def _set_tokens(self, tokens: Tokens | None) -> None:
        self._tokens = tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)

    # --- sending ----------------------------------------------------------------------

    async def call(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer, with the retries and refresh described above."""
        response = await self._send(call)
        if self._can_refresh(call, response):
            await self._refresh_after(response)
            response = await self._send(call)
        if response.status_code >= 400:
            raise error_from_response(response)
        return call.read(response)

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        if not call.auth:
            return {}
        if self._tokens is None:
            raise NotSignedIn("not signed in: log in first")
        return {"Authorization": f"Bearer {self._tokens.access_token}"}

    def _can_refresh(self, call: Call[Any], response: httpx.Response) -> bool:
        return (
            response.status_code == 401
            and call.auth
            and self._tokens is not None
            and self._tokens.refresh_token is not None
        )

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := response.headers.get("Retry-After", "")).isdigit():
            return min(float(after), 30.0)
        return float(self.backoff * (2**attempt))

    async def _send(self, call: Call[Any]) -> httpx.Response:
        headers = self._headers(call)
        args: dict[str, Any] = {}
        if call.body is not None:
            args["content"] = msgspec.json.encode(call.body)
            headers["Content-Type"] = "application/json"
        if call.form is not None:
            args["data"] = call.form
        if call.params:
            args["params"] = call.params
        if call.timeout is not None:
            args["timeout"] = call.timeout
        attempts = 1 + (self.retries if call.idempotent else 0)
        for attempt in range(attempts):
            response: httpx.Response | None = None
            try:
                response = await self.http.request(call.method, call.path, headers=headers, **args)
                if response.status_code not in _RETRY_STATUSES or attempt == attempts - 1:
                    return response
            except httpx.TransportError as exc:
                if attempt == attempts - 1:
                    raise _transport_error(call, exc) from None
            await asyncio.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")

    async def _refresh_after(self, failed: httpx.Response) -> None:
        used = failed.request.headers.get("Authorization", "")
        async with self._refresh_lock:
            tokens = self._tokens
            if tokens is None or tokens.refresh_token is None:
                raise error_from_response(failed)
            if used != f"Bearer {tokens.access_token}":
                return  # another task refreshed while this one waited
            try:
                await self.refresh()
            except AuthError:
                self._set_tokens(None)
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
        body = RegisterRequest(email, password, display_name, timezone, locale)
        return await self.call(
            Call("POST", "/api/auth/register", _decode(UserProfile), body, auth=False)
        )

    async def login(self, email: str, password: str) -> Tokens:
        # OAuth2 password grant: a form, with the email as "username".
        form = {"username": email, "password": password}
        answer = await self.call(
            Call("POST", "/api/auth/token", _decode(TokenResponse), form=form, auth=False)
        )
        tokens = Tokens.of(answer)
        self._set_tokens(tokens)
        return tokens

    async def refresh(self) -> Tokens:
        held = self._tokens
        if held is None or held.refresh_token is None:
            raise NotSignedIn("no refresh token: log in again")
        body = RefreshRequest(held.refresh_token)
        answer = await self.call(
            Call("POST", "/api/auth/refresh", _decode(TokenResponse), body, auth=False)
        )
        tokens = Tokens.of(answer)
        self._set_tokens(tokens)
        return tokens

    async def logout(self, everywhere: bool = False) -> None:
        held = self._tokens
        refresh = None if everywhere or held is None else held.refresh_token
        body = LogoutRequest(refresh) if refresh else None
        try:
            await self.call(Call("POST", "/api/auth/logout", _nothing, body, idempotent=True))
        finally:
            self._set_tokens(None)

    # --- users ------------------------------------------------------------------------

    async def me(self) -> UserProfile:
        return await self.call(Call("GET", "/api/users/me", _decode(UserProfile), idempotent=True))

    async def update_me(self, **changes: Any) -> UserProfile:
        """Any field of ``UpdateProfileRequest``; those left out do not change."""
        body = msgspec.convert(changes, UpdateProfileRequest)
        return await self.call(Call("PUT", "/api/users/me", _decode(UserProfile), body))

    async def preferences(self) -> PreferencesView:
        return await self.call(
            Call("GET", "/api/users/me/preferences", _decode(PreferencesView), idempotent=True)
        )

    async def update_preferences(self, **changes: Any) -> PreferencesView:
        """Any field of ``UpdatePreferencesRequest``; ``writing_reminder_time=None`` clears."""
        body = msgspec.convert(changes, UpdatePreferencesRequest)
        return await self.call(
            Call(
                "PUT",
                "/api/users/me/preferences",
                _decode(PreferencesView),
                body,
                idempotent=True,
            )
        )

    async def privacy(self) -> PrivacyView:
        return await self.call(
            Call("GET", "/api/users/me/privacy", _decode(PrivacyView), idempotent=True)
        )

    async def set_privacy(
        self,
        tier: Tier | str,
        he_public_key: bytes | None = None,
        consent_at: datetime | None = None,
    ) -> PrivacyView:
        body = UpdatePrivacyRequest(Tier(tier), consent_at or now(), he_public_key)
        # Setting the same tier twice leaves the same state: safe to retry.
        return await self.call(
            Call("PUT", "/api/users/me/privacy", _decode(PrivacyView), body, idempotent=True)
        )

    async def revoke(self) -> RevokeResponse:
        return await self.call(
            Call("DELETE", "/api/users/me/privacy/revoke", _decode(RevokeResponse), idempotent=True)
        )

    async def export(self) -> ExportDocument:
        return await self.call(
            Call(
                "GET",
                "/api/users/me/export",
                _decode(ExportDocument),
                idempotent=True,
                timeout=300.0,
            )
        )

    async def delete_account(self, password: str) -> None:
        body = DeleteAccountRequest(password)
        await self.call(Call("DELETE", "/api/users/me", _nothing, body))
        self._set_tokens(None)

    # --- tags -------------------------------------------------------------------------

    async def tags(self) -> list[TagView]:
        return await self.call(Call("GET", "/api/tags", _decode(list[TagView]), idempotent=True))

    async def create_tag(self, name: str, color: str | None = None) -> TagCreated:
        def read(response: httpx.Response) -> TagCreated:
            return TagCreated(_decode(TagView)(response), response.status_code == 201)

        # The server answers the existing tag of the same name: retrying creates nothing twice.
        body = CreateTagRequest(name, color)
        return await self.call(Call("POST", "/api/tags", read, body, idempotent=True))

    async def update_tag(
        self, tag_id: Id, name: str | None = None, color: str | None = None, used: bool = False
    ) -> TagView:
        body = UpdateTagRequest(name, color, used)
        return await self.call(
            Call("PATCH", f"/api/tags/{tag_id}", _decode(TagView), body, idempotent=True)
        )

    async def delete_tag(self, tag_id: Id) -> None:
        await self.call(Call("DELETE", f"/api/tags/{tag_id}", _nothing))

    async def cleanup_tags(self, days: int = 30) -> CleanupResponse:
        return await self.call(
            Call(
                "DELETE",
                "/api/tags/cleanup",
                _decode(CleanupResponse),
                params={"days": days},
                idempotent=True,
            )
        )

    # --- homomorphic analytics ----------------------------------------------------------

    async def encryption_context(self) -> ContextResponse:
        return await self.call(
            Call(
                "GET",
                "/api/encryption/context",
                _decode(ContextResponse),
                auth=False,
                idempotent=True,
            )
        )

    async def upload_metrics(self, metrics: Sequence[MetricItem]) -> int:
        """How many the server stored. Not idempotent: a resent batch is stored twice, so
        callers reconcile (see uploads.py)."""
        body = MetricsUpload(list(metrics))
        return await self.call(
            Call(
                "POST",
                "/api/encryption/metrics",
                _count("count"),
                body,
                timeout=METRICS_TIMEOUT,
            )
        )

    async def aggregate(
        self,
        metric_type: str,
        operation: Operation = "sum",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> AggregateResponse:
        """The encrypted sum or average, over an inclusive time range when one is given."""
        time_range = None
        if start is not None or end is not None:
            if start is None or end is None:
                raise ValueError("a time range needs both start and end")
            time_range = TimeRangeView(start, end)
        body = AggregateRequest(metric_type, operation, time_range)
        return await self.call(
            Call(
                "POST",
                "/api/encryption/aggregate",
                _decode(AggregateResponse),
                body,
                idempotent=True,
            )
        )

    async def upload_packed(self, items: Sequence[PackedItem]) -> int:
        """How many were new. Idempotent: the server recognises a resent item (same type,
        year and bytes) and does not add it twice, so retries are safe."""
        body = PackedUploadRequest(list(items))
        return await self.call(
            Call(
                "POST",
                "/api/encryption/packed-metrics",
                _count("new"),
                body,
                timeout=METRICS_TIMEOUT,
                idempotent=True,
            )
        )

    async def packed_years(
        self, metric_type: str, start: date | None = None, end: date | None = None
    ) -> list[PackedWindowView]:
        """The stored packed years of one type meeting [start, end]; 404 when there are none."""
        params = _params(
            metric_type=metric_type,
            start=None if start is None else start.isoformat(),
            end=None if end is None else end.isoformat(),
        )
        answer = await self.call(
            Call(
                "GET",
                "/api/encryption/packed-aggregate",
                _decode(PackedAggregateResponse),
                params=params,
                idempotent=True,
            )
        )
        return answer.windows

    # --- sync -------------------------------------------------------------------------

    async def upload_backup(
        self, entry: EncryptedEntry, base_revision: int | None = None
    ) -> BackupStored:
        # Same ciphertext and IV again is a no-op on the server: retries are safe.
        body = entry.upload(base_revision)
        return await self.call(
            Call("POST", "/api/sync/backup", _decode(BackupStored), body, idempotent=True)
        )

    async def upload_batch(
        self, entries: Sequence[tuple[EncryptedEntry, int | None]], atomic: bool = False
    ) -> list[BatchItem]:
        """Up to 500 (entry, base_revision) in one request; the outcomes in the same order."""
        if len(entries) > BATCH_MAX_ITEMS:
            raise ValueError(f"a batch holds at most {BATCH_MAX_ITEMS} entries")
        body = BatchUpload([entry.upload(base) for entry, base in entries], atomic)
        # Every item is idempotent as a single upload is, so the whole batch may be resent.
        stored = await self.call(
            Call("POST", "/api/sync/batch", _decode(BatchStored), body, idempotent=True)
        )
        return stored.results

    async def backups(
        self,
        since: datetime | None = None,
        device_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> BackupList:
        params = _params(
            since=None if since is None else format_time(since),
            device_id=device_id,
            limit=limit,
            offset=offset or None,
        )
        return await self.call(
            Call("GET", "/api/sync/backups", _decode(BackupList), params=params, idempotent=True)
        )

    async def changes(
        self, cursor: str | None = None, device_id: str | None = None, limit: int = 100
    ) -> ChangeList:
        params = _params(cursor=cursor, device_id=device_id, limit=limit)
        return await self.call(
            Call("GET", "/api/sync/changes", _decode(ChangeList), params=params, idempotent=True)
        )

    async def delete_backup(self, entry_id: Id, device_id: str | None = None) -> Message:
        return await self.call(
            Call(
                "DELETE",
                f"/api/sync/backup/{entry_id}",
                _decode(Message),
                params=_params(device_id=device_id),
            )
        )

    async def delete_all_backups(self) -> DeletedBackups:
        return await self.call(
            Call("DELETE", "/api/sync/backup/content", _decode(DeletedBackups), idempotent=True)
        )

    async def revisions(
        self, entry_id: Id, cursor: str | None = None, limit: int = 100
    ) -> RevisionList:
        """One page of an entry's kept versions, newest first; ``cursor``: the previous
        page's ``next_cursor``."""
        params = _params(cursor=cursor, limit=limit)
        return await self.call(
            Call(
                "GET",
                f"/api/sync/entries/{entry_id}/revisions",
                _decode(RevisionList),
                params=params,
                idempotent=True,
            )
        )

    async def delete_revisions(self, entry_id: Id) -> None:
        """Delete an entry's kept versions (its current version stays)."""
        await self.call(
            Call("DELETE", f"/api/sync/entries/{entry_id}/revisions", _nothing, idempotent=True)
        )

    async def delete_all_metrics(self) -> DeletedMetrics:
        return await self.call(
            Call("DELETE", "/api/sync/metrics/all", _decode(DeletedMetrics), idempotent=True)
        )

    async def retract_metrics(self, log_id: str) -> int:
        """Remove an entry's metrics from every sum (the server subtracts them)."""
        return await self.call(
            Call(
                "DELETE",
                "/api/encryption/metrics",
                _count("deleted"),
                params={"log_id": log_id},
                idempotent=True,
            )
        )

    async def conflicts(self, limit: int = CONFLICT_PAGE, offset: int = 0) -> list[ConflictItem]:
        """One page of open conflicts, oldest first (the server pages them)."""
        page = await self.call(
            Call(
                "GET",
                "/api/sync/conflicts",
                _decode(ConflictList),
                params=_params(limit=limit, offset=offset or None),
                idempotent=True,
            )
        )
        return page.conflicts

    async def resolve_conflict(
        self,
        conflict_id: Id,
        chosen_version: ChosenVersion | str,
        merged: EncryptedEntry | None = None,
        device_id: str | None = None,
        *,
        remote_revision: int | None = None,
        generation: int | None = None,
    ) -> Message:
        """``remote_revision`` and ``generation`` as the conflict was listed: the server
        refuses (409, :class:`~reflective_client.errors.StaleResolutionError`) when either
        side changed since, so a resolution never overwrites a version nobody saw."""
        try:
            choice = ChosenVersion(chosen_version)
        except ValueError:
            raise ValueError("chosen_version must be local, remote or merged") from None
        if (choice is ChosenVersion.MERGED) != (merged is not None):
            raise ValueError("a merged resolution needs the merged version, and only it")
        body = ResolveRequest(
            chosen_version=choice,
            final_encrypted_content=None if merged is None else merged.content,
            final_iv=None if merged is None else merged.iv,
            final_tag=None if merged is None else merged.tag,
            device_id=device_id,
            remote_revision=remote_revision,
            generation=generation,
        )
        return await self.call(
            Call("POST", f"/api/sync/conflicts/{conflict_id}/resolve", _decode(Message), body)
        )

    # --- operations -------------------------------------------------------------------

    async def health(self) -> Health:
        return await self.call(
            Call("GET", "/api/health", _decode(Health), auth=False, idempotent=True)
        )

    # --- live sync, sessions, devices ------------------------------------------------------

    async def events(self, last_event_id: str | None = None) -> AsyncIterator[ChangeEvent]:
        """The account's change stream (Server-Sent Events), event by event, heartbeats
        left out, until the server ends it. The access token is refreshed once on a 401."""
        call: Call[None] = Call("GET", EVENTS_PATH, _nothing, idempotent=True)
        for attempt in range(2):
            headers = self._headers(call)
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            stream_timeout = httpx.Timeout(self.http.timeout.connect, read=None)
            try:
                async with self.http.stream(
                    "GET", call.path, headers=headers, timeout=stream_timeout
                ) as response:
                    if attempt == 0 and self._can_refresh(call, response):
                        await response.aread()
                        await self._refresh_after(response)
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
        answer = await self.call(
            Call("POST", "/api/sync/events/ticket", _decode(EventTicketResponse))
        )
        return answer.ticket

    async def sessions(self) -> list[SessionView]:
        """Every session, newest first, read a page at a time."""
        return await self._whole_list("/api/auth/sessions", SessionList, lambda p: p.sessions)

    async def end_session(self, session_id: Id) -> None:
        await self.call(
            Call("DELETE", f"/api/auth/sessions/{session_id}", _nothing, idempotent=True)
        )

    async def devices(self) -> list[DeviceView]:
        """Every device, most recently seen first, read a page at a time."""
        return await self._whole_list("/api/sync/devices", DeviceList, lambda p: p.devices)

    async def _whole_list(
        self, path: str, page_type: type[PageT], items: Callable[[PageT], list[T]]
    ) -> list[T]:
        """A list route read whole: pages of ``WHOLE_LIST_PAGE`` until ``has_more`` is false."""
        found: list[T] = []
        while True:
            page = await self.call(
                Call(
                    "GET",
                    path,
                    _decode(page_type),
                    params=_params(limit=WHOLE_LIST_PAGE, offset=len(found) or None),
                    idempotent=True,
                )
            )
            batch = items(page)
            found.extend(batch)
            if not page.has_more or not batch:
                return found

    async def forget_device(self, device_id: str) -> None:
        await self.call(Call("DELETE", f"/api/sync/devices/{device_id}", _nothing, idempotent=True))


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
                yield _event(parsed, event_id)
        elif "subscribed" in comments:
            yield ChangeEvent("subscribed")
        data, comments, event_id = [], [], None


def _event(data: dict[str, Any], event_id: str | None) -> ChangeEvent:
    if "cursor" in data:
        return ChangeEvent("changes", str(data["cursor"]), tuple(data.get("kinds", ())), event_id)
    return ChangeEvent(str(data.get("kind", "unknown")), id=event_id)
