"""Runtime settings, read from the environment (and a ``.env`` file) when the app starts.

Nothing here runs at import time. Real environment variables win over ``.env``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from reflective_adapters.postgres.embedded import DATA_DIR, data_dir_from_env

MIB = 1024 * 1024
GIB = 1024 * MIB
SECRET_FILE_NAME = "secret_key"
MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("auto", "console", "json")
ENVIRONMENTS = ("development", "production")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """The environment does not describe a server that can start. The message says why."""


T = TypeVar("T")
# A setting's parser: (variable name, its non-empty stripped value) -> the value, or SettingsError.
Parser = Callable[[str, str], T]


def setting(env: str, default: T, parse: Parser[T], *, secret: bool = False) -> T:
    """One setting, declared once: its environment variable, its default and its parser."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse})


def _text(name: str, raw: str) -> str:
    return raw


def _choice(options: tuple[str, ...], normalise: Callable[[str], str]) -> Parser[str]:
    def parse(name: str, raw: str) -> str:
        value = normalise(raw)
        if value not in options:
            raise SettingsError(f"{name} must be one of {', '.join(options)}")
        return value

    return parse


def _comma_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _comma_joined(name: str, raw: str) -> str:
    return ",".join(_comma_list(name, raw))


def _positive_int(name: str, raw: str) -> int:
    return _whole_number(name, raw, minimum=1)


def _non_negative_int(name: str, raw: str) -> int:
    return _whole_number(name, raw, minimum=0)


def _whole_seconds(name: str, raw: str) -> float:
    return float(_positive_int(name, raw))


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{name} must be more than 0")
    return value


def _rate(name: str, raw: str) -> tuple[int, int]:
    """``N/SECONDS`` (e.g. ``20/3600``); ``0/1`` turns the limit off."""
    count, _, seconds = raw.partition("/")
    try:
        parsed = (int(count), int(seconds))
    except ValueError:
        raise SettingsError(f"{name} must be REQUESTS/SECONDS, e.g. 20/3600") from None
    if parsed[0] < 0 or parsed[1] < 1:
        raise SettingsError(f"{name} must be REQUESTS/SECONDS with REQUESTS >= 0, SECONDS >= 1")
    return parsed


def _bool(name: str, raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false")


def _whole_number(name: str, raw: str, *, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the server reads from its environment, each setting declared once here (its
    variable, default and parser); ``repr`` hides the secrets. Building one has no side
    effects: the development secret is made by ``signing_secret``, when the server starts."""

    # None: not set; production refuses that, development generates one (``signing_secret``).
    secret_key: str | None = setting("SECRET_KEY", None, _text, secret=True)
    # Default from the environment as a whole (``data_dir_from_env``: as root or not).
    data_dir: Path = field(metadata={"env": DATA_DIR})
    environment: str = setting("REFLECTIVE_ENV", "development", _choice(ENVIRONMENTS, str.lower))
    database_url: str | None = setting("DATABASE_URL", None, _text, secret=True)
    # The live-sync listener's own connection (LISTEN): a direct one where DATABASE_URL goes
    # through a transaction-mode pooler, which cannot carry LISTEN. None: the app's database.
    listen_database_url: str | None = setting("LISTEN_DATABASE_URL", None, _text, secret=True)
    access_token_expire_minutes: int = setting("ACCESS_TOKEN_EXPIRE_MINUTES", 30, _positive_int)
    refresh_token_expire_days: int = setting("REFRESH_TOKEN_EXPIRE_DAYS", 30, _positive_int)
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", (), _comma_list)
    max_body_bytes: int = setting("MAX_BODY_BYTES", MIB, _positive_int)
    # The web client posts every entry's metrics in one request, ~0.45 MB of base64 each;
    # the upload is read as a stream, so this is a safety limit, the metric quota the real one.
    max_metrics_body_bytes: int = setting("MAX_METRICS_BODY_BYTES", 8 * GIB, _positive_int)
    log_level: str = setting("LOG_LEVEL", "INFO", _choice(LOG_LEVELS, str.upper))
    password_hash_concurrency: int = setting("PASSWORD_HASH_CONCURRENCY", 4, _positive_int)
    max_entry_bytes: int = setting("MAX_ENTRY_BYTES", MIB, _positive_int)
    user_storage_quota_bytes: int = setting("USER_STORAGE_QUOTA_BYTES", 256 * MIB, _positive_int)
    # Revision history: replaced versions kept per entry (0: none) and for how many days.
    revision_history_max: int = setting("REVISION_HISTORY_MAX", 20, _non_negative_int)
    revision_history_days: int = setting("REVISION_HISTORY_DAYS", 90, _positive_int)
    max_metrics_per_request: int = setting("MAX_METRICS_PER_REQUEST", 100_000, _positive_int)
    max_metrics_per_user: int = setting("MAX_METRICS_PER_USER", 100_000, _positive_int)
    # Constants, not read from the environment.
    token_issuer: str = "reflective-server"
    token_audience: str = "reflective-client"
    # Hardening. Rate limits are (requests, per seconds), counted in PostgreSQL so every worker
    # shares them; registration and refresh per client address, the rest per user.
    rate_limit_register: tuple[int, int] = setting("RATE_LIMIT_REGISTER", (20, 3600), _rate)
    rate_limit_refresh: tuple[int, int] = setting("RATE_LIMIT_REFRESH", (60, 60), _rate)
    rate_limit_aggregate: tuple[int, int] = setting("RATE_LIMIT_AGGREGATE", (60, 60), _rate)
    rate_limit_metrics_upload: tuple[int, int] = setting(
        "RATE_LIMIT_METRICS_UPLOAD", (60, 3600), _rate
    )
    rate_limit_export: tuple[int, int] = setting("RATE_LIMIT_EXPORT", (10, 3600), _rate)
    registration_hash_concurrency: int = setting("REGISTRATION_HASH_CONCURRENCY", 1, _positive_int)
    db_statement_timeout_ms: int = setting("DB_STATEMENT_TIMEOUT_MS", 30_000, _positive_int)
    db_lock_timeout_ms: int = setting("DB_LOCK_TIMEOUT_MS", 5_000, _positive_int)
    db_idle_in_transaction_timeout_ms: int = setting(
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60_000, _positive_int
    )
    db_command_timeout_seconds: int = setting("DB_COMMAND_TIMEOUT_SECONDS", 60, _positive_int)
    max_tags_per_user: int = setting("MAX_TAGS_PER_USER", 1000, _positive_int)
    # Operations (see README, "Configuration reference").
    # auto: human-readable on a terminal, JSON otherwise
    log_format: str = setting("LOG_FORMAT", "auto", _choice(LOG_FORMATS, str.lower))
    registration_open: bool = setting("REGISTRATION_OPEN", True, _bool)
    migrate_on_start: bool = setting("MIGRATE_ON_START", True, _bool)
    db_pool_size: int = setting("DB_POOL_SIZE", 20, _positive_int)  # one per admitted request
    db_max_overflow: int = setting("DB_MAX_OVERFLOW", 5, _non_negative_int)
    # PgBouncer in transaction mode: no server-side prepared statement cache per connection.
    db_pgbouncer: bool = setting("DB_PGBOUNCER", False, _bool)
    # The HTTP server, against slow and oversized clients.
    # none trusted by default: X-Forwarded-For is ignored
    forwarded_allow_ips: str = setting("FORWARDED_ALLOW_IPS", "", _comma_joined)
    header_read_timeout: float = setting("HEADER_READ_TIMEOUT", 10.0, _whole_seconds)
    keep_alive_timeout: int = setting("KEEP_ALIVE_TIMEOUT", 5, _positive_int)
    max_header_bytes: int = setting("MAX_HEADER_BYTES", 32 * 1024, _positive_int)
    limit_concurrency: int = setting("LIMIT_CONCURRENCY", 1000, _positive_int)
    # Admission control, per worker: requests handled at once (about the connection pool's
    # size), how many may wait for a turn (the rest are answered 503 with Retry-After at
    # once, so an answered request never queued behind more than the worker serves in a
    # fraction of a second) and how long one may wait for its turn, or for a pooled
    # connection, before it is answered 503 with Retry-After.
    admission_limit: int = setting("ADMISSION_LIMIT", 20, _positive_int)
    admission_queue: int = setting("ADMISSION_QUEUE", 20, _non_negative_int)
    admission_wait_seconds: float = setting("ADMISSION_WAIT_SECONDS", 2.0, _positive_float)
    # Live sync (GET /api/sync/events): heartbeat comment interval, open streams per user
    # on each worker.
    events_heartbeat_seconds: float = setting("EVENTS_HEARTBEAT_SECONDS", 15.0, _whole_seconds)
    max_event_streams_per_user: int = setting("MAX_EVENT_STREAMS_PER_USER", 8, _positive_int)
    # Analytics v2: metric quota in bytes, large-upload admission, streaming chunk size.
    metric_quota_bytes: int = setting("METRIC_QUOTA_BYTES", 4 * GIB, _positive_int)
    large_uploads_per_worker: int = setting("LARGE_UPLOADS_PER_WORKER", 4, _positive_int)
    body_idle_timeout_seconds: int = setting("BODY_IDLE_TIMEOUT_SECONDS", 30, _positive_int)
    metrics_upload_chunk: int = setting("METRICS_UPLOAD_CHUNK", 50, _positive_int)

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


def environment_variables() -> dict[str, str]:
    """Each setting's field name and its environment variable."""
    return {f.name: f.metadata["env"] for f in fields(Settings) if "env" in f.metadata}


def _parse(env: Mapping[str, str]) -> Settings:
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if "parse" not in f.metadata:
            continue
        name = f.metadata["env"]
        raw = env.get(name, "").strip()
        if raw:
            values[f.name] = f.metadata["parse"](name, raw)
    settings = Settings(data_dir=data_dir_from_env(env), **values)
    _check_secret(settings)
    return settings


def _check_secret(settings: Settings) -> None:
    if not settings.production:
        return
    if settings.secret_key is None:
        raise SettingsError(
            "SECRET_KEY is not set. In production it must be set explicitly, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
        )
    if len(settings.secret_key) < MIN_SECRET_LENGTH:
        raise SettingsError(f"SECRET_KEY must have at least {MIN_SECRET_LENGTH} characters")


def signing_secret(settings: Settings) -> str:
    """The token-signing secret: SECRET_KEY, or (development only) one generated once and kept
    in the data directory. Called when the server starts (``reflective serve``, before any
    worker, next to where the embedded database is prepared) and by the container."""
    _check_secret(settings)
    if settings.secret_key is not None:
        return settings.secret_key
    return _dev_secret(settings.data_dir / SECRET_FILE_NAME)


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
