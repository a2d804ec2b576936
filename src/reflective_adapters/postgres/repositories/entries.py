from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    DateTime,
    Integer,
    Select,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.mappers import (
    conflict_from_row,
    entry_from_row,
    entry_reader,
    entry_values,
)
from reflective_adapters.postgres.schema import (
    conflicts,
    deliveries,
    entries,
    entry_history,
    entry_revisions,
    users,
)
from reflective_domain.entries import (
    Entry,
    HistoryChange,
    KeptRevision,
    Revision,
    UploadContext,
    history_size,
)
from reflective_domain.errors import AlreadyExists, ConcurrentUpdate

_e = entries.c
# Rows of ``select(entries, ...)``: the table's columns first, in order, read by position.
_read_entry = entry_reader([c.name for c in entries.c])
_live = _e.content.is_not(None)
_owner = _e.user_id == bindparam("user_id")

# The hot statements, built once: executing them only binds parameters (SQLAlchemy's compiled
# cache and asyncpg's prepared statements then do the rest).
_GET = select(entries).where(_owner, _e.id == bindparam("entry_id"))
_GET_MANY = select(entries).where(_owner, _e.id == any_(bindparam("entry_ids", type_=ARRAY(Uuid))))
_ADD = insert(entries).on_conflict_do_nothing(index_elements=[_e.user_id, _e.id]).returning(_e.id)
_SAVE = insert(entries)
_SAVE = _SAVE.on_conflict_do_update(
    index_elements=[_e.user_id, _e.id],
    set_={c.name: _SAVE.excluded[c.name] for c in entries.c if c.name not in ("user_id", "id")},
)
# A write that replaces a version keeps it, in the same statement as the write: the kept CTE
# copies the row as stored (the statement's snapshot is from before the upsert), the pruned
# one drops the revisions retention named. Both are no-ops when nothing is kept or pruned.
_h = entry_history.c
_HISTORY_COLUMNS = ["user_id", "entry_id", "revision", "content", "iv", "tag", "device_id"]
_KEPT = insert(entry_history).from_select(
    [*_HISTORY_COLUMNS, "replaced_at"],
    select(
        _e.user_id,
        _e.id,
        _e.revision,
        _e.content,
        _e.iv,
        _e.tag,
        _e.version_device_id,
        bindparam("h_replaced_at", type_=DateTime(timezone=True)),
    ).where(
        _e.user_id == bindparam("h_user_id"),
        _e.id == bindparam("h_entry_id"),
        _e.revision == bindparam("h_kept", type_=Integer),
        _e.content.is_not(None),
    ),
)
_PRUNED = entry_history.delete().where(
    _h.user_id == bindparam("h_user_id"),
    _h.entry_id == bindparam("h_entry_id"),
    _h.revision == any_(bindparam("h_pruned", type_=ARRAY(Integer))),
)
_SAVE_KEEPING = _SAVE.add_cte(_KEPT.cte("kept")).add_cte(_PRUNED.cte("pruned"))
_KEEP = _PRUNED.add_cte(_KEPT.cte("kept"))  # a batch's, before its entries' upsert
_HISTORY = (
    select(_h.revision, _h.replaced_at, func.octet_length(_h.content).label("length"))
    .where(_h.user_id == bindparam("user_id"), _h.entry_id == bindparam("entry_id"))
    .order_by(_h.revision.desc())
)
_REVISIONS = (
    select(entry_history)
    .where(_h.user_id == bindparam("user_id"), _h.entry_id == bindparam("entry_id"))
    .order_by(_h.revision.desc())
    .limit(bindparam("limit"))
)
_REVISIONS_BEFORE = _REVISIONS.where(_h.revision < bindparam("before"))
_DELETE_HISTORY = (
    entry_history.delete()
    .where(_h.user_id == bindparam("user_id"), _h.entry_id == bindparam("entry_id"))
    .returning(func.octet_length(_h.content))
)


def _history_values(change: HistoryChange) -> dict[str, Any]:
    kept = change.kept
    return {
        "h_user_id": change.user_id,
        "h_entry_id": change.entry_id,
        "h_kept": kept.revision if kept is not None else None,
        "h_replaced_at": kept.replaced_at if kept is not None else None,
        "h_pruned": list(change.pruned),
    }


def _history_array(column: Any, label: str) -> Any:
    """One column of an entry's history, newest first, as an array (its ciphertexts are not
    read): what retention needs, in the same read as the rest of an upload's context."""
    return (
        select(func.array_agg(aggregate_order_by(column, _h.revision.desc())))
        .where(_h.user_id == _e.user_id, _h.entry_id == _e.id)
        .scalar_subquery()
        .label(label)
    )


def _revision_from_row(row: Any) -> Revision:
    return Revision(
        entry_id=row.entry_id,
        revision=row.revision,
        content=bytes(row.content),
        iv=bytes(row.iv),
        tag=bytes(row.tag) if row.tag is not None else None,
        device_id=row.device_id,
        replaced_at=row.replaced_at,
    )


# The first revision a version was accepted as stays its answer.
_REMEMBER = insert(entry_revisions).on_conflict_do_nothing()
_r = entry_revisions.c
_REVISION_WITH = select(_r.revision).where(
    _r.user_id == bindparam("user_id"),
    _r.entry_id == bindparam("entry_id"),
    _r.fingerprint == bindparam("fingerprint"),
)
_CHANGES_AFTER = (
    select(entries)
    .where(_owner, _e.change_seq > bindparam("after"))
    .order_by(_e.change_seq)
    .limit(bindparam("limit"))
)

# A new entry in one round trip: the user's change sequence and stored bytes move (guarded by
# the number the caller read under the user's lock), the entry is inserted and the revision
# its version was accepted as remembered, as three data-modifying parts of one statement.
# Parameters are named apart from every column (``new_<column>``): for a statement executed
# with parameters named like a table's columns, SQLAlchemy adds those columns to its UPDATE.
_NEW = "new_"
_sequenced = (
    update(users)
    .where(users.c.id == bindparam("new_user_id"), users.c.change_seq == bindparam("new_after"))
    .values(
        change_seq=bindparam("new_change_seq"),
        stored_bytes=users.c.stored_bytes + bindparam("new_stored_delta"),
    )
    .returning(users.c.id)
    .cte("sequenced")
)
_inserted = (
    insert(entries)
    .from_select(
        [c.name for c in entries.c],
        select(*(bindparam(_NEW + c.name, type_=c.type) for c in entries.c)).select_from(
            _sequenced
        ),
    )
    .on_conflict_do_nothing(index_elements=[_e.user_id, _e.id])
    .returning(_e.id)
    .cte("inserted")
)
_remembered = (
    insert(entry_revisions)
    .from_select(
        ["user_id", "entry_id", "fingerprint", "revision"],
        select(
            bindparam("new_user_id", type_=entry_revisions.c.user_id.type),
            _inserted.c.id,
            bindparam("new_fingerprint", type_=entry_revisions.c.fingerprint.type),
            bindparam("new_revision", type_=entry_revisions.c.revision.type),
        ).select_from(_inserted),
    )
    .on_conflict_do_nothing()
    .returning(entry_revisions.c.entry_id)
    .cte("remembered")
)
_CREATE = select(
    select(func.count()).select_from(_sequenced).scalar_subquery().label("sequenced"),
    select(func.count()).select_from(_inserted).scalar_subquery().label("inserted"),
    select(func.count()).select_from(_remembered).scalar_subquery().label("remembered"),
)
_COUNT_LIVE = select(func.count()).select_from(entries).where(_owner, _live)
_CREATED_SINCE_SUBQUERY = (
    select(_e.created_at)
    .where(_owner, _live, _e.created_at >= bindparam("since"))
    .order_by(_e.created_at)
    .scalar_subquery()
)
_SIZE = func.octet_length(_e.content) + func.coalesce(func.octet_length(_e.embedding), 0)
_STORED = select(func.coalesce(func.sum(_SIZE), 0)).where(_owner, _live)
# The profile's counts in one read: how many live entries, and the recent ones' creation times.
_COUNT_AND_CREATED = select(
    _COUNT_LIVE.scalar_subquery().label("live"),
    func.array(_CREATED_SINCE_SUBQUERY).label("times"),
)
_CREATED = select(_e.created_at).where(_owner, _live).order_by(_e.created_at)
_CREATED_SINCE = (
    select(_e.created_at)
    .where(_owner, _live, _e.created_at >= bindparam("since"))
    .order_by(_e.created_at)
)

# An upload's whole context in one read: the entry, whether this exact version was accepted
# before, its open conflict (columns prefixed c_) and what was delivered to the device.
_open_conflict = conflicts.alias("open_conflict")
_CONFLICT_PREFIX = "c_"
_d = deliveries.c
_UPLOAD_CONTEXT = (
    select(
        entries,
        _REVISION_WITH.where(_r.entry_id == _e.id).scalar_subquery().label("known_revision"),
        select(_d.revision)
        .where(
            _d.user_id == _e.user_id,
            _d.device_id == bindparam("device_id"),
            _d.entry_id == _e.id,
        )
        .scalar_subquery()
        .label("delivered_revision"),
        *(c.label(_CONFLICT_PREFIX + c.name) for c in _open_conflict.c),
        _history_array(_h.revision, "h_revisions"),
        _history_array(_h.replaced_at, "h_replaced"),
        _history_array(func.octet_length(_h.content), "h_lengths"),
    )
    .select_from(
        entries.outerjoin(
            _open_conflict,
            and_(
                _open_conflict.c.user_id == _e.user_id,
                _open_conflict.c.entry_id == _e.id,
                _open_conflict.c.resolved_at.is_(None),
            ),
        )
    )
    .where(_owner, _e.id == bindparam("entry_id"))
)


# The same context for a whole batch: the uploads travel as three arrays, so the statement is
# prepared once whatever the batch size. Only the schema's own column names are joined in.
_UPLOAD_CONTEXTS = text(
    "SELECT "  # noqa: S608
    + ", ".join(f"e.{c.name}" for c in entries.c)
    + ", (SELECT r.revision FROM entry_revisions AS r WHERE r.user_id = e.user_id"
    " AND r.entry_id = e.id AND r.fingerprint = u.fingerprint) AS known_revision"
    ", (SELECT d.revision FROM deliveries AS d WHERE d.user_id = e.user_id"
    " AND d.device_id = u.device_id AND d.entry_id = e.id) AS delivered_revision, "
    + ", ".join(f"c.{c.name} AS {_CONFLICT_PREFIX}{c.name}" for c in conflicts.c)
    + "".join(
        f", (SELECT array_agg({column} ORDER BY h.revision DESC) FROM entry_history AS h"  # noqa: S608
        f" WHERE h.user_id = e.user_id AND h.entry_id = e.id) AS {label}"
        for column, label in (
            ("h.revision", "h_revisions"),
            ("h.replaced_at", "h_replaced"),
            ("octet_length(h.content)", "h_lengths"),
        )
    )
    + " FROM unnest(CAST(:entry_ids AS uuid[]), CAST(:fingerprints AS bytea[]),"
    " CAST(:device_ids AS text[])) AS u(entry_id, fingerprint, device_id)"
    " JOIN entries AS e ON e.user_id = CAST(:user_id AS uuid) AND e.id = u.entry_id"
    " LEFT JOIN conflicts AS c ON c.user_id = e.user_id AND c.entry_id = e.id"
    " AND c.resolved_at IS NULL"
)


class _Prefixed:
    """The columns of a row whose names start with ``prefix``, under their own names."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


def _listing(since: bool, device: bool) -> Select[Any]:
    """A page of live entries with the total that match (a window over the whole filtered
    set, so one statement answers both)."""
    conditions = [_owner, _live]
    if since:
        conditions.append(_e.synced_at > bindparam("since"))
    if device:
        conditions.append(_e.device_id != bindparam("device"))
    return (
        select(entries, func.count().over().label("total_matching"))
        .where(*conditions)
        .order_by(_e.synced_at, _e.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def _listing_total(since: bool, device: bool) -> Select[Any]:
    conditions = [_owner, _live]
    if since:
        conditions.append(_e.synced_at > bindparam("since"))
    if device:
        conditions.append(_e.device_id != bindparam("device"))
    return select(func.count()).select_from(entries).where(*conditions)


def _delivering(page: Select[Any], order: Any, first: Any = None) -> Select[Any]:
    """``page``, recording its entries (the ``first`` of them, in ``order``) as sent to the
    device ``deliver_to`` in the same statement: the rows come back as ``page``'s columns, then
    one more. A device is never recorded as sent an older revision than it already was."""
    rows: CTE = page.cte("page")
    sent = select(
        rows.c.user_id, bindparam("deliver_to", type_=Text), rows.c.id, rows.c.revision
    ).order_by(rows.c[order])
    if first is not None:
        sent = sent.limit(first)
    record = insert(deliveries).from_select(["user_id", "device_id", "entry_id", "revision"], sent)
    record = record.on_conflict_do_update(
        index_elements=[_d.user_id, _d.device_id, _d.entry_id],
        set_={"revision": func.greatest(_d.revision, record.excluded.revision)},
    )
    recorded = record.returning(_d.entry_id).cte("recorded")
    count = select(func.count()).select_from(recorded).scalar_subquery().label("recorded")
    return select(*rows.c, count).order_by(rows.c[order], rows.c.id)


_LISTINGS = {
    (s, d): (_listing(s, d), _listing_total(s, d)) for s in (False, True) for d in (False, True)
}
_DELIVERING_LISTINGS = {key: _delivering(page, "synced_at") for key, (page, _) in _LISTINGS.items()}
# A page of the change feed and one entry more (whether more follow); only the page is sent.
_CHANGE_PAGE = _CHANGES_AFTER.limit(bindparam("limit") + 1)
_DELIVERING_CHANGE_PAGE = _delivering(_CHANGE_PAGE, "change_seq", bindparam("limit"))


def _context(row: Any) -> UploadContext:
    conflict = None
    if getattr(row, _CONFLICT_PREFIX + "id") is not None:
        conflict = conflict_from_row(_Prefixed(row, _CONFLICT_PREFIX))
    history: tuple[KeptRevision, ...] = ()
    if row.h_revisions is not None:
        history = tuple(
            KeptRevision(revision, replaced_at, history_size(length))
            for revision, replaced_at, length in zip(
                row.h_revisions, row.h_replaced, row.h_lengths, strict=True
            )
        )
    return UploadContext(
        entry=entry_from_row(row),
        known_revision=row.known_revision,
        open_conflict=conflict,
        delivered_revision=row.delivered_revision,
        history=history,
    )


class PgEntries:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def get(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Entry | None:
        row = (await self._s.execute(_GET, {"user_id": user_id, "entry_id": entry_id})).first()
        return entry_from_row(row) if row is not None else None

    async def get_many(self, user_id: uuid.UUID, entry_ids: Sequence[uuid.UUID]) -> list[Entry]:
        if not entry_ids:
            return []
        params = {"user_id": user_id, "entry_ids": list(entry_ids)}
        return [entry_from_row(row) for row in await self._s.execute(_GET_MANY, params)]

    async def add(self, entry: Entry) -> None:
        if (await self._s.execute(_ADD, entry_values(entry))).first() is None:
            raise AlreadyExists("entry already exists")

    async def create(self, entry: Entry, fingerprint: bytes, stored_delta: int) -> None:
        params = {_NEW + name: value for name, value in entry_values(entry).items()}
        params.update(
            new_after=entry.change_seq - 1,
            new_fingerprint=fingerprint,
            new_stored_delta=stored_delta,
        )
        row = (await self._s.execute(_CREATE, params)).one()
        if not row.sequenced:
            raise ConcurrentUpdate("the change sequence moved without the user's lock")
        if not row.inserted:
            raise AlreadyExists("entry already exists")

    async def save(self, entry: Entry, history: HistoryChange | None = None) -> None:
        if history is None:
            await self._s.execute(_SAVE, entry_values(entry))
        else:
            await self._s.execute(_SAVE_KEEPING, entry_values(entry) | _history_values(history))

    async def history(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> list[KeptRevision]:
        params = {"user_id": user_id, "entry_id": entry_id}
        return [
            KeptRevision(row.revision, row.replaced_at, history_size(row.length))
            for row in await self._s.execute(_HISTORY, params)
        ]

    async def revisions(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, *, before: int | None, limit: int
    ) -> list[Revision]:
        params: dict[str, Any] = {"user_id": user_id, "entry_id": entry_id, "limit": limit}
        stmt = _REVISIONS
        if before is not None:
            stmt, params["before"] = _REVISIONS_BEFORE, before
        return [_revision_from_row(row) for row in await self._s.execute(stmt, params)]

    async def delete_history(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> int:
        params = {"user_id": user_id, "entry_id": entry_id}
        lengths = (await self._s.execute(_DELETE_HISTORY, params)).scalars()
        return sum(history_size(length) for length in lengths)

    async def revisions_page(
        self, user_id: uuid.UUID, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> list[Revision]:
        stmt = select(entry_history).where(_h.user_id == user_id)
        if after is not None:
            stmt = stmt.where(tuple_(_h.entry_id, _h.revision) > tuple_(*after))
        stmt = stmt.order_by(_h.entry_id, _h.revision).limit(limit)
        return [_revision_from_row(row) for row in await self._s.execute(stmt)]

    async def remember_revision(self, entry: Entry, fingerprint: bytes) -> None:
        values = {
            "user_id": entry.user_id,
            "entry_id": entry.id,
            "fingerprint": fingerprint,
            "revision": entry.revision,
        }
        await self._s.execute(_REMEMBER, values)

    async def revision_with(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes
    ) -> int | None:
        params = {"user_id": user_id, "entry_id": entry_id, "fingerprint": fingerprint}
        return (await self._s.execute(_REVISION_WITH, params)).scalar_one_or_none()

    async def upload_context(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes, device_id: str
    ) -> UploadContext | None:
        params = {
            "user_id": user_id,
            "entry_id": entry_id,
            "fingerprint": fingerprint,
            "device_id": device_id,
        }
        row = (await self._s.execute(_UPLOAD_CONTEXT, params)).first()
        return _context(row) if row is not None else None

    async def upload_contexts(
        self, user_id: uuid.UUID, uploads: Sequence[tuple[uuid.UUID, bytes, str]]
    ) -> dict[uuid.UUID, UploadContext]:
        if not uploads:
            return {}
        params = {
            "user_id": user_id,
            "entry_ids": [u[0] for u in uploads],
            "fingerprints": [u[1] for u in uploads],
            "device_ids": [u[2] for u in uploads],
        }
        found = {}
        for row in await self._s.execute(_UPLOAD_CONTEXTS, params):
            found[row.id] = _context(row)
        return found

    async def save_many(
        self, entries: Sequence[Entry], history: Sequence[HistoryChange] = ()
    ) -> None:
        if history:
            await self._s.execute(_KEEP, [_history_values(change) for change in history])
        if entries:
            await self._s.execute(_SAVE, [entry_values(entry) for entry in entries])

    async def remember_revisions(self, written: Sequence[tuple[Entry, bytes]]) -> None:
        if written:
            values = [
                {
                    "user_id": entry.user_id,
                    "entry_id": entry.id,
                    "fingerprint": fingerprint,
                    "revision": entry.revision,
                }
                for entry, fingerprint in written
            ]
            await self._s.execute(_REMEMBER, values)

    async def changes_after(self, user_id: uuid.UUID, change_seq: int, limit: int) -> list[Entry]:
        params = {"user_id": user_id, "after": change_seq, "limit": limit}
        return [_read_entry(row) for row in await self._s.execute(_CHANGES_AFTER, params)]

    async def change_page(
        self, user_id: uuid.UUID, change_seq: int, limit: int, *, deliver_to: str | None = None
    ) -> tuple[list[Entry], bool]:
        params: dict[str, Any] = {"user_id": user_id, "after": change_seq, "limit": limit}
        stmt = _CHANGE_PAGE
        if deliver_to is not None:
            stmt, params["deliver_to"] = _DELIVERING_CHANGE_PAGE, deliver_to
        found = [_read_entry(row) for row in await self._s.execute(stmt, params)]
        return found[:limit], len(found) > limit

    async def list_live(
        self,
        user_id: uuid.UUID,
        *,
        synced_after: datetime | None,
        exclude_device: str | None,
        limit: int,
        offset: int,
        deliver_to: str | None = None,
    ) -> tuple[list[Entry], int]:
        key = (synced_after is not None, exclude_device is not None)
        page, total = _LISTINGS[key]
        params: dict[str, Any] = {"user_id": user_id, "limit": limit, "offset": offset}
        if deliver_to is not None:
            page, params["deliver_to"] = _DELIVERING_LISTINGS[key], deliver_to
        if synced_after is not None:
            params["since"] = synced_after
        if exclude_device is not None:
            params["device"] = exclude_device
        rows = (await self._s.execute(page, params)).all()
        if rows:
            return [_read_entry(row) for row in rows], int(rows[0].total_matching)
        # Past the end (or nothing matches): the window had no row to carry the total.
        del params["limit"], params["offset"]
        return [], int((await self._s.execute(total, params)).scalar_one())

    async def count_and_creation_times(
        self, user_id: uuid.UUID, since: datetime
    ) -> tuple[int, list[datetime]]:
        params = {"user_id": user_id, "since": since}
        row = (await self._s.execute(_COUNT_AND_CREATED, params)).one()
        return int(row.live), list(row.times or ())

    async def count_live(self, user_id: uuid.UUID) -> int:
        return int((await self._s.execute(_COUNT_LIVE, {"user_id": user_id})).scalar_one())

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        return int((await self._s.execute(_STORED, {"user_id": user_id})).scalar_one())

    async def creation_times(
        self, user_id: uuid.UUID, since: datetime | None = None
    ) -> list[datetime]:
        if since is None:
            result = await self._s.execute(_CREATED, {"user_id": user_id})
        else:
            result = await self._s.execute(_CREATED_SINCE, {"user_id": user_id, "since": since})
        return list(result.scalars())

    async def all(self, user_id: uuid.UUID) -> list[Entry]:
        stmt = select(entries).where(entries.c.user_id == user_id).order_by(entries.c.change_seq)
        return [entry_from_row(row) for row in await self._s.execute(stmt)]

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Entry]:
        stmt = select(entries).where(entries.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(entries.c.id > after)
        stmt = stmt.order_by(entries.c.id).limit(limit)
        return [entry_from_row(row) for row in await self._s.execute(stmt)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        stmt = entries.delete().where(entries.c.user_id == user_id).returning(_live)
        live = sum(1 for is_live in (await self._s.execute(stmt)).scalars() if is_live)
        await self._s.execute(entry_revisions.delete().where(entry_revisions.c.user_id == user_id))
        return live  # their kept versions went with them (ON DELETE CASCADE)
