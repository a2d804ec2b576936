"""Runtime settings, read from the environment (and a ``.env`` file) when the app starts.

Nothing here runs at import time. Real environment variables win over ``.env``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from reflective_adapters.postgres.embedded import data_dir_from_env

MIB = 1024 * 1024
GIB = 1024 * MIB
SECRET_FILE_NAME = "secret_key"
MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("auto", "console", "json")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """The environment does not describe a server that can start. The message says why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server reads from its environment. ``repr`` hides the secrets."""

    secret_key: str = field(repr=False)
    data_dir: Path
    environment: str = "development"
    database_url: str | None = field(default=None, repr=False)
    access_token_expire_minutes: int = 30
    refresh_token_expire_days: int = 30
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = MIB
    # The web client posts every entry's metrics in one request, ~0.45 MB of base64 each;
    # the upload is read as a stream, so this is a safety limit, the metric quota the real one.
    max_metrics_body_bytes: int = 8 * GIB
    log_level: str = "INFO"
    password_hash_concurrency: int = 4
    max_entry_bytes: int = MIB
    user_storage_quota_bytes: int = 256 * MIB
    max_metrics_per_request: int = 100_000
    max_metrics_per_user: int = 100_000
    token_issuer: str = "reflective-server"
    token_audience: str = "reflective-client"
    # Hardening. Rate limits are (requests, per seconds), counted in PostgreSQL so every worker
    # shares them; registration and refresh per client address, the rest per user.
    rate_limit_register: tuple[int, int] = (20, 3600)
    rate_limit_refresh: tuple[int, int] = (60, 60)
    rate_limit_aggregate: tuple[int, int] = (60, 60)
    rate_limit_metrics_upload: tuple[int, int] = (60, 3600)
    rate_limit_export: tuple[int, int] = (10, 3600)
    registration_hash_concurrency: int = 1
    db_statement_timeout_ms: int = 30_000
    db_lock_timeout_ms: int = 5_000
    db_idle_in_transaction_timeout_ms: int = 60_000
    db_command_timeout_seconds: int = 60
    max_tags_per_user: int = 1000
    # Operations (see README, "Configuration reference").
    log_format: str = "auto"  # auto: human-readable on a terminal, JSON otherwise
    registration_open: bool = True
    migrate_on_start: bool = True
    db_pool_size: int = 20  # one per admitted request (ADMISSION_LIMIT)
    db_max_overflow: int = 5
    # PgBouncer in transaction mode: no server-side prepared statement cache per connection.
    db_pgbouncer: bool = False
    # The HTTP server, against slow and oversized clients.
    forwarded_allow_ips: str = ""  # none trusted: X-Forwarded-For is ignored
    header_read_timeout: float = 10.0
    keep_alive_timeout: int = 5
    max_header_bytes: int = 32 * 1024
    limit_concurrency: int = 1000
    # Admission control, per worker: requests handled at once (about the connection pool's
    # size) and how long one may wait for its turn, or for a pooled connection, before it is
    # answered 503 with Retry-After.
    admission_limit: int = 20
    admission_wait_seconds: float = 2.0
    # Live sync (GET /api/sync/events): heartbeat comment interval, open streams per user
    # on each worker.
    events_heartbeat_seconds: float = 15.0
    max_event_streams_per_user: int = 8
    # Analytics v2: metric quota in bytes, large-upload admission, streaming chunk size.
    metric_quota_bytes: int = 4 * GIB
    large_uploads_per_worker: int = 4
    body_idle_timeout_seconds: int = 30
    metrics_upload_chunk: int = 50

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def access_ttl_seconds(self) -> int:
        return self.access_token_expire_minutes * 60

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Settings from ``environ`` (default: the process environment) over ``env_file``."""
        env: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            env.update(read_env_file(Path(env_file)))
        env.update(os.environ if environ is None else environ)
        return _parse(env)


def _parse(env: Mapping[str, str]) -> Settings:
    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    environment = (get("REFLECTIVE_ENV") or "development").lower()
    if environment not in ("development", "production"):
        raise SettingsError("REFLECTIVE_ENV must be 'development' or 'production'")
    data_dir = data_dir_from_env(env)
    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    log_format = (get("LOG_FORMAT") or "auto").lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    return Settings(
        secret_key=_secret_key(get("SECRET_KEY"), environment, data_dir),
        data_dir=data_dir,
        environment=environment,
        database_url=get("DATABASE_URL"),
        access_token_expire_minutes=_positive_int(env, "ACCESS_TOKEN_EXPIRE_MINUTES", 30),
        refresh_token_expire_days=_positive_int(env, "REFRESH_TOKEN_EXPIRE_DAYS", 30),
        cors_origins=tuple(o.strip() for o in (get("CORS_ORIGINS") or "").split(",") if o.strip()),
        max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", MIB),
        max_metrics_body_bytes=_positive_int(env, "MAX_METRICS_BODY_BYTES", 8 * GIB),
        log_level=log_level,
        password_hash_concurrency=_positive_int(env, "PASSWORD_HASH_CONCURRENCY", 4),
        max_entry_bytes=_positive_int(env, "MAX_ENTRY_BYTES", MIB),
        user_storage_quota_bytes=_positive_int(env, "USER_STORAGE_QUOTA_BYTES", 256 * MIB),
        max_metrics_per_request=_positive_int(env, "MAX_METRICS_PER_REQUEST", 100_000),
        max_metrics_per_user=_positive_int(env, "MAX_METRICS_PER_USER", 100_000),
        rate_limit_register=_rate(env, "RATE_LIMIT_REGISTER", (20, 3600)),
        rate_limit_refresh=_rate(env, "RATE_LIMIT_REFRESH", (60, 60)),
        rate_limit_aggregate=_rate(env, "RATE_LIMIT_AGGREGATE", (60, 60)),
        rate_limit_metrics_upload=_rate(env, "RATE_LIMIT_METRICS_UPLOAD", (60, 3600)),
        rate_limit_export=_rate(env, "RATE_LIMIT_EXPORT", (10, 3600)),
        registration_hash_concurrency=_positive_int(env, "REGISTRATION_HASH_CONCURRENCY", 1),
        db_statement_timeout_ms=_positive_int(env, "DB_STATEMENT_TIMEOUT_MS", 30_000),
        db_lock_timeout_ms=_positive_int(env, "DB_LOCK_TIMEOUT_MS", 5_000),
        db_idle_in_transaction_timeout_ms=_positive_int(
            env, "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60_000
        ),
        db_command_timeout_seconds=_positive_int(env, "DB_COMMAND_TIMEOUT_SECONDS", 60),
        max_tags_per_user=_positive_int(env, "MAX_TAGS_PER_USER", 1000),
        log_format=log_format,
        registration_open=_bool(env, "REGISTRATION_OPEN", True),
        migrate_on_start=_bool(env, "MIGRATE_ON_START", True),
        db_pool_size=_positive_int(env, "DB_POOL_SIZE", 20),
        db_max_overflow=_non_negative_int(env, "DB_MAX_OVERFLOW", 5),
        db_pgbouncer=_bool(env, "DB_PGBOUNCER", False),
        forwarded_allow_ips=",".join(
            a.strip() for a in (get("FORWARDED_ALLOW_IPS") or "").split(",") if a.strip()
        ),
        header_read_timeout=float(_positive_int(env, "HEADER_READ_TIMEOUT", 10)),
        keep_alive_timeout=_positive_int(env, "KEEP_ALIVE_TIMEOUT", 5),
        max_header_bytes=_positive_int(env, "MAX_HEADER_BYTES", 32 * 1024),
        limit_concurrency=_positive_int(env, "LIMIT_CONCURRENCY", 1000),
        admission_limit=_positive_int(env, "ADMISSION_LIMIT", 20),
        admission_wait_seconds=_positive_float(env, "ADMISSION_WAIT_SECONDS", 2.0),
        events_heartbeat_seconds=float(_positive_int(env, "EVENTS_HEARTBEAT_SECONDS", 15)),
        max_event_streams_per_user=_positive_int(env, "MAX_EVENT_STREAMS_PER_USER", 8),
        metric_quota_bytes=_positive_int(env, "METRIC_QUOTA_BYTES", 4 * GIB),
        large_uploads_per_worker=_positive_int(env, "LARGE_UPLOADS_PER_WORKER", 4),
        body_idle_timeout_seconds=_positive_int(env, "BODY_IDLE_TIMEOUT_SECONDS", 30),
        metrics_upload_chunk=_positive_int(env, "METRICS_UPLOAD_CHUNK", 50),
    )


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{name} must be more than 0")
    return value


def _rate(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``N/SECONDS`` (e.g. ``20/3600``); ``0/1`` turns the limit off."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    count, _, seconds = raw.partition("/")
    try:
        parsed = (int(count), int(seconds))
    except ValueError:
        raise SettingsError(f"{name} must be REQUESTS/SECONDS, e.g. 20/3600") from None
    if parsed[0] < 0 or parsed[1] < 1:
        raise SettingsError(f"{name} must be REQUESTS/SECONDS with REQUESTS >= 0, SECONDS >= 1")
    return parsed


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a ``.env`` file. A line that is not one (no ``=``, or
    unparseable) refuses to start, naming the file and the line, rather than being skipped."""
    with path.open(encoding="utf-8") as stream:
        bindings = list(parse_stream(stream))
    for binding in bindings:
        if binding.error or (binding.key is not None and binding.value is None):
            raise SettingsError(
                f"{path}: line {binding.original.line} is not KEY=value "
                f"({binding.original.string.strip()[:40]!r}); fix or remove it"
                if binding.key is None
                else f"{path}: line {binding.original.line} is not KEY=value "
                f"(no '=' after {binding.key[:40]!r}); fix or remove it"
            )
    # Parsed again for the values, with python-dotenv's ${VAR} expansion.
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false")


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _whole_number(env, name, default, minimum=0)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _whole_number(env, name, default, minimum=1)


def _whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _secret_key(given: str | None, environment: str, data_dir: Path) -> str:
    """The token-signing secret: given, or (development only) generated once and kept."""
    if given is not None:
        if environment == "production" and len(given) < MIN_SECRET_LENGTH:
            raise SettingsError(f"SECRET_KEY must have at least {MIN_SECRET_LENGTH} characters")
        return given
    if environment == "production":
        raise SettingsError(
            "SECRET_KEY is not set. In production it must be set explicitly, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
        )
    return _dev_secret(data_dir / SECRET_FILE_NAME)


def _dev_secret(path: Path) -> str:
    """Read the development secret, creating it (0600) on first use.

    O_EXCL makes creation atomic, so several workers starting at once agree on one secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    secret = secrets.token_urlsafe(64)
    try:
        os.write(fd, secret.encode())
    finally:
        os.close(fd)
    return secret


def _read_secret(path: Path) -> str:
    for _ in range(50):  # another process may have created it and not yet written it
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.01)
    raise SettingsError(f"the development secret file {path} is empty; delete it to regenerate")
