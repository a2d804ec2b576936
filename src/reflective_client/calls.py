"""The contract as data: one function per endpoint, each returning a ``Call`` (method, path,
body, how to read the answer). No I/O here, so the async and the sync client share it and a
test can inspect a request without sending it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import httpx

from reflective_client.models import (
    Acknowledgement,
    AggregateResult,
    BackupPage,
    BackupStored,
    BatchItem,
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
from reflective_client.wire import b64, format_time, now

T = TypeVar("T")

# The web client gives the one big metrics upload 30 s; leave more room for slow links.
METRICS_TIMEOUT = 120.0


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T] = field(repr=False)
    json: Any = field(default=None, repr=False)
    form: dict[str, str] | None = field(default=None, repr=False)
    params: dict[str, Any] | None = None
    auth: bool = True
    idempotent: bool = False
    """Safe to send again after a lost answer (the client retries these on network errors)."""
    timeout: float | None = None


def _json(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(response.json())


def _nothing(response: httpx.Response) -> None:
    return None


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --- auth ---------------------------------------------------------------------------------


def register(
    email: str,
    password: str,
    display_name: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
) -> Call[UserProfile]:
    body = _params(
        email=email, password=password, display_name=display_name, timezone=timezone, locale=locale
    )
    return Call("POST", "/api/auth/register", _json(UserProfile.parse), json=body, auth=False)


def token(email: str, password: str) -> Call[Tokens]:
    # OAuth2 password grant: a form, with the email as "username".
    form = {"username": email, "password": password}
    return Call("POST", "/api/auth/token", _json(Tokens.parse), form=form, auth=False)


def refresh(refresh_token: str) -> Call[Tokens]:
    body = {"refresh_token": refresh_token}
    return Call("POST", "/api/auth/refresh", _json(Tokens.parse), json=body, auth=False)


def logout(refresh_token: str | None = None) -> Call[None]:
    body = {"refresh_token": refresh_token} if refresh_token else None
    return Call("POST", "/api/auth/logout", _nothing, json=body, idempotent=True)


# --- users --------------------------------------------------------------------------------


def me() -> Call[UserProfile]:
    return Call("GET", "/api/users/me", _json(UserProfile.parse), idempotent=True)


def update_me(**changes: Any) -> Call[UserProfile]:
    return Call("PUT", "/api/users/me", _json(UserProfile.parse), json=changes)


def preferences() -> Call[Preferences]:
    return Call("GET", "/api/users/me/preferences", _json(Preferences.parse), idempotent=True)


def update_preferences(**changes: Any) -> Call[Preferences]:
    return Call(
        "PUT", "/api/users/me/preferences", _json(Preferences.parse), json=changes, idempotent=True
    )


def privacy() -> Call[Privacy]:
    return Call("GET", "/api/users/me/privacy", _json(Privacy.parse), idempotent=True)


def set_privacy(
    tier: str, he_public_key: bytes | None = None, consent_at: datetime | None = None
) -> Call[Privacy]:
    body: dict[str, Any] = {
        "privacy_tier": tier,
        "consent_timestamp": format_time(consent_at or now()),
    }
    if he_public_key is not None:
        body["he_public_key"] = b64(he_public_key)
    # Setting the same tier twice leaves the same state: safe to retry.
    return Call("PUT", "/api/users/me/privacy", _json(Privacy.parse), json=body, idempotent=True)


def revoke() -> Call[Revoked]:
    return Call("DELETE", "/api/users/me/privacy/revoke", _json(Revoked.parse), idempotent=True)


def export() -> Call[dict[str, Any]]:
    return Call("GET", "/api/users/me/export", _json(dict), idempotent=True, timeout=300.0)


def delete_account(password: str) -> Call[None]:
    return Call("DELETE", "/api/users/me", _nothing, json={"password": password})


# --- tags ---------------------------------------------------------------------------------


def tags() -> Call[list[Tag]]:
    return Call("GET", "/api/tags", _json(lambda d: [Tag.parse(t) for t in d]), idempotent=True)


def create_tag(name: str, color: str | None = None) -> Call[TagCreated]:
    def read(response: httpx.Response) -> TagCreated:
        return TagCreated(Tag.parse(response.json()), response.status_code == 201)

    # The server answers the existing tag of the same name: retrying creates nothing twice.
    return Call("POST", "/api/tags", read, json=_params(name=name, color=color), idempotent=True)


def update_tag(
    tag_id: str, name: str | None = None, color: str | None = None, used: bool = False
) -> Call[Tag]:
    body = _params(name=name, color=color, used=used or None)
    return Call("PATCH", f"/api/tags/{tag_id}", _json(Tag.parse), json=body, idempotent=True)


def delete_tag(tag_id: str) -> Call[None]:
    return Call("DELETE", f"/api/tags/{tag_id}", _nothing)


def cleanup_tags(days: int = 30) -> Call[Deleted]:
    return Call(
        "DELETE",
        "/api/tags/cleanup",
        _json(lambda d: Deleted.parse(d, "deleted_count")),
        params={"days": days},
        idempotent=True,
    )


# --- homomorphic analytics -------------------------------------------------------------------


def encryption_context() -> Call[EncryptionContext]:
    return Call(
        "GET",
        "/api/encryption/context",
        _json(EncryptionContext.parse),
        auth=False,
        idempotent=True,
    )


def upload_metrics(metrics: Sequence[MetricUpload]) -> Call[int]:
    body = {
        "metrics": [
            {
                "metric_type": m.metric_type,
                "encrypted_value": b64(m.ciphertext),
                "timestamp": format_time(m.timestamp),
                **({"log_id": m.log_id} if m.log_id else {}),
            }
            for m in metrics
        ]
    }
    # Not idempotent: a resent batch is stored twice. Callers reconcile (see uploads.py).
    return Call(
        "POST",
        "/api/encryption/metrics",
        _json(lambda d: int(d["details"]["count"])),
        json=body,
        timeout=METRICS_TIMEOUT,
    )


def aggregate(
    metric_type: str,
    operation: str = "sum",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Call[AggregateResult]:
    body: dict[str, Any] = {"metric_type": metric_type, "operation": operation}
    if start is not None or end is not None:
        if start is None or end is None:
            raise ValueError("a time range needs both start and end")
        body["time_range"] = {"start": _exact(start), "end": _exact(end)}
    return Call(
        "POST",
        "/api/encryption/aggregate",
        _json(AggregateResult.parse),
        json=body,
        idempotent=True,
    )


def _exact(moment: datetime) -> str:
    # Microseconds kept: an inclusive range ends at 23:59:59.999999.
    return moment.isoformat().replace("+00:00", "Z")


# --- sync ---------------------------------------------------------------------------------


def upload_backup(entry: EncryptedEntry, base_revision: int | None = None) -> Call[BackupStored]:
    body = _entry_body(entry, base_revision)
    # Same ciphertext and IV again is a no-op on the server: retries are safe.
    return Call("POST", "/api/sync/backup", _json(BackupStored.parse), json=body, idempotent=True)


BATCH_MAX_ITEMS = 500


def upload_batch(
    entries: Sequence[tuple[EncryptedEntry, int | None]], atomic: bool = False
) -> Call[list[BatchItem]]:
    """Up to 500 (entry, base_revision) in one request; the outcomes in the same order."""
    if len(entries) > BATCH_MAX_ITEMS:
        raise ValueError(f"a batch holds at most {BATCH_MAX_ITEMS} entries")
    body = {"entries": [_entry_body(e, base) for e, base in entries], "atomic": atomic}
    # Every item is idempotent as a single upload is, so the whole batch may be resent.
    return Call("POST", "/api/sync/batch", _json(BatchItem.parse_all), json=body, idempotent=True)


def _entry_body(entry: EncryptedEntry, base_revision: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": entry.id,
        "encrypted_content": b64(entry.content),
        "content_iv": b64(entry.iv),
        "created_at": format_time(entry.created_at),
        "updated_at": format_time(entry.updated_at),
        "device_id": entry.device_id,
    }
    if entry.tag is not None:
        body["content_tag"] = b64(entry.tag)
    if entry.embedding is not None and entry.embedding_iv is not None:
        body["encrypted_embedding"] = b64(entry.embedding)
        body["embedding_iv"] = b64(entry.embedding_iv)
    if base_revision is not None:
        body["base_revision"] = base_revision
    return body


def backups(
    since: datetime | None = None,
    device_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Call[BackupPage]:
    params = _params(
        since=None if since is None else format_time(since),
        device_id=device_id,
        limit=limit,
        offset=offset or None,
    )
    return Call("GET", "/api/sync/backups", _json(BackupPage.parse), params=params, idempotent=True)


def changes(
    cursor: str | None = None, device_id: str | None = None, limit: int = 100
) -> Call[ChangePage]:
    params = _params(cursor=cursor, device_id=device_id, limit=limit)
    return Call("GET", "/api/sync/changes", _json(ChangePage.parse), params=params, idempotent=True)


def delete_backup(entry_id: str, device_id: str | None = None) -> Call[Acknowledgement]:
    return Call(
        "DELETE",
        f"/api/sync/backup/{entry_id}",
        _json(Acknowledgement.parse),
        params=_params(device_id=device_id),
    )


def revisions(entry_id: str, cursor: str | None = None, limit: int = 100) -> Call[RevisionPage]:
    """An entry's kept versions, newest first; ``cursor``: the previous page's next_cursor."""
    params = _params(cursor=cursor, limit=limit)
    return Call(
        "GET",
        f"/api/sync/entries/{entry_id}/revisions",
        _json(RevisionPage.parse),
        params=params,
        idempotent=True,
    )


def delete_revisions(entry_id: str) -> Call[None]:
    return Call("DELETE", f"/api/sync/entries/{entry_id}/revisions", _nothing, idempotent=True)


def delete_all_backups() -> Call[Deleted]:
    return Call(
        "DELETE",
        "/api/sync/backup/content",
        _json(lambda d: Deleted.parse(d, "deleted_backups")),
        idempotent=True,
    )


def delete_all_metrics() -> Call[Deleted]:
    return Call(
        "DELETE",
        "/api/sync/metrics/all",
        _json(lambda d: Deleted.parse(d, "deleted_metrics")),
        idempotent=True,
    )


def retract_metrics(log_id: str) -> Call[int]:
    """Remove an entry's metrics from every sum (the server subtracts them)."""
    return Call(
        "DELETE",
        "/api/encryption/metrics",
        _json(lambda d: int(d.get("details", {}).get("deleted", 0))),
        params={"log_id": log_id},
        idempotent=True,
    )


CONFLICT_PAGE = 500  # the server's largest page


def conflicts(limit: int = CONFLICT_PAGE, offset: int = 0) -> Call[list[Conflict]]:
    """One page of open conflicts, oldest first (the server pages them)."""
    return Call(
        "GET",
        "/api/sync/conflicts",
        _json(lambda d: [Conflict.parse(c) for c in d.get("conflicts", [])]),
        params=_params(limit=limit, offset=offset or None),
        idempotent=True,
    )


def resolve_conflict(
    conflict_id: str,
    chosen_version: str,
    merged: EncryptedEntry | None = None,
    device_id: str | None = None,
) -> Call[Acknowledgement]:
    if chosen_version not in ("local", "remote", "merged"):
        raise ValueError("chosen_version must be local, remote or merged")
    if (chosen_version == "merged") != (merged is not None):
        raise ValueError("a merged resolution needs the merged version, and only it")
    body: dict[str, Any] = {"chosen_version": chosen_version}
    if merged is not None:
        body["final_encrypted_content"] = b64(merged.content)
        body["final_iv"] = b64(merged.iv)
        if merged.tag is not None:
            body["final_tag"] = b64(merged.tag)
    if device_id is not None:
        body["device_id"] = device_id
    return Call(
        "POST",
        f"/api/sync/conflicts/{conflict_id}/resolve",
        _json(Acknowledgement.parse),
        json=body,
    )


# --- operations ---------------------------------------------------------------------------


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/api/health", _json(dict), auth=False, idempotent=True)


# --- live sync, sessions, devices ---------------------------------------------------------

EVENTS_PATH = "/api/sync/events"


def events() -> Call[None]:
    """The change stream; sent with ``stream`` by the clients, never read whole."""
    return Call("GET", EVENTS_PATH, _nothing, idempotent=True)


def event_ticket() -> Call[str]:
    return Call("POST", "/api/sync/events/ticket", _json(lambda d: str(d["ticket"])))


def sessions() -> Call[list[SessionInfo]]:
    return Call(
        "GET",
        "/api/auth/sessions",
        _json(lambda d: [SessionInfo.parse(s) for s in d["sessions"]]),
        idempotent=True,
    )


def end_session(session_id: str) -> Call[None]:
    return Call("DELETE", f"/api/auth/sessions/{session_id}", _nothing, idempotent=True)


def devices() -> Call[list[SyncDeviceInfo]]:
    return Call(
        "GET",
        "/api/sync/devices",
        _json(lambda d: [SyncDeviceInfo.parse(x) for x in d["devices"]]),
        idempotent=True,
    )


def forget_device(device_id: str) -> Call[None]:
    return Call("DELETE", f"/api/sync/devices/{device_id}", _nothing, idempotent=True)
