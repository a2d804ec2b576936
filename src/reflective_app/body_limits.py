"""Per-route body limits that follow the settings.

A route whose body carries one entry (an upload, a resolution) is marked ``opt={ENTRY_BODY:
True}``; ``create_app`` gives those routes a limit computed from the app's ``EntryLimits``
(``MAX_ENTRY_BYTES``), instead of a limit fixed when the module is imported. Every other
route keeps the app's ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from reflective_domain.entries import EntryLimits

ENTRY_BODY = "entry_body"
# JSON around the base64 of the content and the embedding: ids, times, IVs, tags, field names.
ENTRY_BODY_OVERHEAD = 64 * 1024


def entry_body_limit(limits: EntryLimits) -> int:
    """The largest body a route carrying one entry within ``limits`` may need (base64: 4/3)."""
    return (limits.max_content_bytes + limits.max_embedding_bytes) * 4 // 3 + ENTRY_BODY_OVERHEAD


def apply_entry_body_limit(app: Litestar, limit: int) -> None:
    """Set ``limit`` on the app's entry routes. Litestar copies each controller's handlers
    when it registers them, so this changes this app's routes only."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler) and handler.opt.get(ENTRY_BODY):
                handler.request_max_body_size = limit
