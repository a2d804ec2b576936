"""Security headers on every HTTP answer, errors included.

- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` everywhere;
- a Content-Security-Policy that forbids everything for API answers (they are JSON, never a
  page), and for the docs only what the viewers need: their scripts and styles from this
  server (never another host), their inline start-up scripts, data: images and ReDoc's
  blob: worker;
- ``Cache-Control: no-store`` on every ``/api`` answer that does not choose its own, so tokens
  (``/api/auth/token``, ``/api/auth/refresh``), profiles and exports stay out of caches.
"""

from __future__ import annotations

from litestar.types import HTTPResponseStartEvent

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


_SET = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_API = (*_SET, (b"content-security-policy", API_CSP.encode()))
_DOCS = (*_SET, (b"content-security-policy", DOCS_CSP.encode()))
_OWN = frozenset(name for name, _ in _API)
_NO_STORE = (b"cache-control", b"no-store")


def security_headers(path: str) -> tuple[tuple[tuple[bytes, bytes], ...], bool]:
    """For a request to ``path``: the headers every answer gets, and whether it is an API
    answer (``Cache-Control: no-store`` unless it chose its own)."""
    docs = path == "/docs" or path.startswith("/docs/")
    return (_DOCS if docs else _API), path.startswith("/api/")


def add_security_headers(
    message: HTTPResponseStartEvent,
    chosen: tuple[tuple[bytes, bytes], ...],
    api: bool,
    also: tuple[bytes, bytes] | None = None,
) -> None:
    """Set ``chosen`` (and ``also``, one more header) on an ``http.response.start`` message,
    replacing any header of the same name, and for an API answer ``Cache-Control: no-store``
    if it has none."""
    cached = False
    kept: list[tuple[bytes, bytes]] = []
    extra = also[0] if also is not None else None
    for header in message.get("headers", ()):
        name = header[0].lower()
        if name in _OWN or name == extra:
            continue
        cached = cached or name == b"cache-control"
        kept.append(header)
    kept.extend(chosen)
    if api and not cached:
        kept.append(_NO_STORE)
    if also is not None:
        kept.append(also)
    message["headers"] = kept
