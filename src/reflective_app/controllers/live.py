"""Live sync (the change-notification stream and its tickets), devices and sessions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, Parameter, SkipValidation
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from reflective_app.dto.live import device_view, event_ticket, session_view
from reflective_app.errors import CodedHTTPException
from reflective_app.injected import Caller, ClockDep
from reflective_app.live import Change, EventHub, HubClosed, Subscription
from reflective_app.openapi import BEARER_AUTH, documented
from reflective_app.parameters import Offset, PageLimit, SessionId, cursor_position
from reflective_domain.entries import MAX_DEVICE_ID
from reflective_domain.errors import AuthenticationFailed
from reflective_domain.live import (
    CurrentCursor,
    ForgetDevice,
    IssueEventTicket,
    ListDevices,
    OpenedStream,
    OpenEventStream,
)
from reflective_domain.ports import TokenService
from reflective_domain.use_cases.sessions import EndSession, ListSessions
from reflective_domain.use_cases.sync import DEFAULT_PAGE
from reflective_protocol.errors import ErrorCode
from reflective_protocol.live import DeviceList, EventTicketResponse, SessionList

NOT_AUTHENTICATED = "Not authenticated"


def _shutting_down(exc: HubClosed) -> CodedHTTPException:
    """New streams during shutdown: 503, come back shortly (another instance, or this one)."""
    return CodedHTTPException(ErrorCode.SHUTTING_DOWN, str(exc), headers={"Retry-After": "5"})


HubDep = NamedDependency[SkipValidation[EventHub]]
TokensDep = NamedDependency[SkipValidation[TokenService]]


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _message(change: Change) -> ServerSentEventMessage:
    if change.resync:
        return ServerSentEventMessage(data=json.dumps({"kind": "resync"}))
    if change.metrics:
        return ServerSentEventMessage(data=json.dumps({"kind": "metrics"}))
    cursor = str(change.cursor)
    data = json.dumps({"cursor": cursor, "kinds": list(change.kinds)})
    return ServerSentEventMessage(data=data, id=cursor)


async def _stream(
    hub: EventHub, subscription: Subscription, first: list[Change]
) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(data=None, comment="subscribed")
        for change in first:
            yield _message(change)
        while True:
            changes = await subscription.next(hub.heartbeat_seconds)
            if not changes:
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            for change in changes:
                if change.closed:
                    return
                yield _message(change)
    finally:
        # Cancelled when the client leaves: free the slot all the same (briefly; a slot
        # left behind expires once the heartbeats stop refreshing it).
        with anyio.move_on_after(5, shield=True):
            await hub.release(subscription)


class LiveSyncController(Controller):
    path = "/api/sync"
    tags = ["sync"]

    @post(
        "/events/ticket",
        status_code=201,
        operation_id="create_event_ticket",
        **documented("Get a ticket to open the event stream"),
        security=BEARER_AUTH,
    )
    async def ticket(
        self,
        caller: Caller,
        issue_event_ticket: NamedDependency[IssueEventTicket],
        clock: ClockDep,
    ) -> EventTicketResponse:
        """A single-use ticket, valid for 60 seconds, that opens ``GET /api/sync/events``
        as ``?ticket=`` (for a browser's EventSource, which cannot send a header; the access
        token itself never goes in a URL)."""
        issued = await issue_event_ticket(caller.user_id, token_issued_at=caller.issued_at)
        return event_ticket(issued, clock.now())

    @get(
        "/events",
        operation_id="sync_events",
        **documented(
            "Follow changes as they happen (Server-Sent Events)",
            ErrorCode.RATE_LIMITED,
            ErrorCode.RESYNC_REQUIRED,
            ErrorCode.SHUTTING_DOWN,
        ),
        security=BEARER_AUTH,
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        event_hub: HubDep,
        tokens: TokensDep,
        open_event_stream: NamedDependency[OpenEventStream],
        current_cursor: NamedDependency[CurrentCursor],
        ticket: Annotated[
            str | None,
            Parameter(
                description="A ticket from POST /api/sync/events/ticket, instead of the "
                "Authorization header (single use, valid 60 seconds)"
            ),
        ] = None,
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID",
                description="The last event's id (a cursor); 410 for one this server did not issue",
            ),
        ] = None,
    ) -> ServerSentEvent:
        """Server-Sent Events: ``{"cursor": "...", "kinds": [...]}`` (id: the cursor) each
        time the user's change sequence moves (``kinds``: ``entries`` and/or ``conflicts``;
        then pull ``/sync/changes`` from your cursor), ``{"kind": "metrics"}`` when metrics
        change, ``{"kind": "resync"}`` after notifications may have been missed (pull, and
        refresh metrics), and a comment every 15 s. With ``Last-Event-ID``, a sequence
        moved since is announced at once (as ``entries``: a missed conflict is not told
        apart, so check conflicts after a resume); 410 for an id that is not a cursor. No
        entry data travels here. Authenticate with the header or a ticket; 429 beyond the
        per-user stream limit."""
        try:
            event_hub.check_open()
        except HubClosed as exc:
            raise _shutting_down(exc) from None
        token = _bearer(request)
        # One transaction authorizes the stream and claims its slot under the per-user cap
        # (shared by every worker): 429 when the user already holds the maximum.
        opened: OpenedStream
        if token is not None:
            claims = tokens.read_access(token)
            opened = await open_event_stream.with_token(
                claims.user_id, claims.issued_at, event_hub.holder
            )
        elif ticket:
            opened = await open_event_stream.with_ticket(ticket, event_hub.holder)
        else:
            raise AuthenticationFailed(NOT_AUTHENTICATED)
        first: list[Change] = []
        try:
            subscription = event_hub.subscribe(opened.user_id, opened.slot_id)
        except HubClosed as exc:
            await event_hub.free_slot(opened.slot_id)
            raise _shutting_down(exc) from None
        try:
            # An id this server never issued is a 410 like the change feed's cursor (pull
            # from the start), never a 500; the slot is given back.
            resume_from = None
            if last_event_id is not None and last_event_id.strip():
                resume_from = cursor_position(last_event_id.strip())
            if resume_from is not None:
                now = await current_cursor(opened.user_id)
                if now > resume_from:
                    # Only the sequence is compared: a conflict does not move it, so the
                    # kinds missed are not known; entries is what a pull will find.
                    first.append(Change(cursor=now, kinds=("entries",)))
        except BaseException:
            await event_hub.release(subscription)
            raise
        return ServerSentEvent(
            _stream(event_hub, subscription, first),
            background=BackgroundTask(event_hub.release, subscription),
        )

    @get(
        "/devices",
        operation_id="list_devices",
        **documented("List the devices that synced"),
        security=BEARER_AUTH,
    )
    async def devices(
        self,
        caller: Caller,
        list_devices: NamedDependency[ListDevices],
        limit: PageLimit = DEFAULT_PAGE,
        offset: Offset = 0,
    ) -> DeviceList:
        """Every device id that wrote entries or was sent them, most recently seen first,
        a page at a time (``total_count``: how many in all): first and last seen (its last
        write or delivery) and how many entry versions and deletions it wrote."""
        page = await list_devices(caller.user_id, limit, offset, token_issued_at=caller.issued_at)
        return DeviceList(
            devices=[device_view(d) for d in page.devices],
            total_count=page.total_count,
            has_more=page.has_more,
        )

    @delete(
        "/devices/{device_id:str}",
        status_code=204,
        operation_id="forget_device",
        **documented("Forget a device", ErrorCode.NOT_FOUND),
        security=BEARER_AUTH,
    )
    async def forget(
        self,
        caller: Caller,
        device_id: Annotated[
            str,
            Parameter(
                description=f"The device's id, 1..{MAX_DEVICE_ID} characters",
                schema_extra={"min_length": 1, "max_length": MAX_DEVICE_ID},
            ),
        ],
        forget_device: NamedDependency[ForgetDevice],
    ) -> None:
        """Forget a device: what the server recorded as sent to it is dropped, so its next
        upload without a base revision over a version another device wrote is a conflict
        rather than a fast-forward. Its entries stay. 404 when unknown."""
        await forget_device(caller.user_id, device_id, token_issued_at=caller.issued_at)


class SessionController(Controller):
    path = "/api/auth/sessions"
    tags = ["auth"]
    security = BEARER_AUTH

    @get("/", operation_id="list_sessions", **documented("List your sessions"))
    async def sessions(
        self,
        caller: Caller,
        list_sessions: NamedDependency[ListSessions],
        limit: PageLimit = DEFAULT_PAGE,
        offset: Offset = 0,
    ) -> SessionList:
        """The account's sessions (one per sign-in, while it can be refreshed), newest
        first, a page at a time (``total_count``: how many in all); ``current`` marks the
        one this access token belongs to."""
        page = await list_sessions(caller.user_id, limit, offset, token_issued_at=caller.issued_at)
        current = caller.session_id
        return SessionList(
            sessions=[session_view(s, current) for s in page.sessions],
            total_count=page.total_count,
            has_more=page.has_more,
        )

    @delete(
        "/{session_id:uuid}",
        status_code=204,
        operation_id="end_session",
        **documented("End a session", ErrorCode.NOT_FOUND),
    )
    async def end(
        self,
        caller: Caller,
        session_id: SessionId,
        end_session: NamedDependency[EndSession],
    ) -> None:
        """End one session: its refresh token is refused from now on. Access tokens it
        already issued stay valid until they expire (ACCESS_TOKEN_EXPIRE_MINUTES, 30 by
        default). 404 for a session of another account or one already ended."""
        await end_session(caller.user_id, session_id, token_issued_at=caller.issued_at)
