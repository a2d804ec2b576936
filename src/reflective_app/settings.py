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

from reflective_adapters.postgres.embedded import data_dir_from_env

MIB = 1024 * 1024
GIB = 1024 * MIB
SECRET_FILE_NAME = "secret_key"
MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
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
        metric_quota_bytes=_positive_int(env, "METRIC_QUOTA_BYTES", 4 * GIB),
        large_uploads_per_worker=_positive_int(env, "LARGE_UPLOADS_PER_WORKER", 4),
        body_idle_timeout_seconds=_positive_int(env, "BODY_IDLE_TIMEOUT_SECONDS", 30),
        metrics_upload_chunk=_positive_int(env, "METRICS_UPLOAD_CHUNK", 50),
    )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1")
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
