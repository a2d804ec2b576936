"""Settings from the environment: defaults, the development secret, production refusals.
(No database: these run fast, beside the API tests that use them.)"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from reflective_app.settings import (
    MIB,
    Settings,
    SettingsError,
    environment_variables,
    signing_secret,
)


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"REFLECTIVE_DATA_DIR": str(tmp_path), **values}


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path), env_file=None)
    assert settings.database_url is None
    assert settings.access_token_expire_minutes == 30
    assert settings.refresh_token_expire_days == 30
    assert settings.cors_origins == ()
    assert settings.max_body_bytes == MIB
    assert settings.max_metrics_body_bytes >= 500 * MIB
    assert settings.password_hash_concurrency == 4
    assert settings.data_dir == tmp_path
    assert not settings.production


def test_parsing_has_no_side_effects(tmp_path: Path) -> None:
    data_dir = tmp_path / "not-yet"
    settings = Settings.from_env(env(data_dir), env_file=None)
    assert settings.data_dir == data_dir and settings.secret_key is None
    assert not data_dir.exists()  # no directory, no secret file: made when the server starts


def test_development_secret_is_made_once_and_private(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path), env_file=None)
    first = signing_secret(settings)
    assert signing_secret(Settings.from_env(env(tmp_path), env_file=None)) == first
    assert len(first) >= 64
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert first not in repr(settings)
    given = Settings.from_env(env(tmp_path, SECRET_KEY="s" * 40), env_file=None)
    assert signing_secret(given) == "s" * 40
    assert "s" * 40 not in repr(given)


def test_each_setting_is_declared_once_with_its_variable_and_default(tmp_path: Path) -> None:
    names = environment_variables()
    assert len(set(names.values())) == len(names)
    defaults = Settings.from_env(env(tmp_path), env_file=None)
    for field in dataclasses.fields(Settings):
        if "parse" in field.metadata:
            assert getattr(defaults, field.name) == field.default, field.name


def test_production_needs_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env(env(tmp_path, REFLECTIVE_ENV="production"), env_file=None)
    with pytest.raises(SettingsError, match="at least"):
        Settings.from_env(
            env(tmp_path, REFLECTIVE_ENV="production", SECRET_KEY="short"), env_file=None
        )
    ok = Settings.from_env(
        env(tmp_path, REFLECTIVE_ENV="production", SECRET_KEY="s" * 40), env_file=None
    )
    assert ok.production and not (tmp_path / "secret_key").exists()


def test_values_are_parsed_and_checked(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env(
            tmp_path,
            DATABASE_URL="postgresql://u:p@db/reflective",
            CORS_ORIGINS="https://a.example, https://b.example ,",
            ACCESS_TOKEN_EXPIRE_MINUTES="5",
            MAX_BODY_BYTES="2048",
            LOG_LEVEL="debug",
        ),
        env_file=None,
    )
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.access_ttl_seconds == 300
    assert settings.max_body_bytes == 2048
    assert settings.log_level == "DEBUG"
    assert "u:p@" not in repr(settings)
    for name, value in [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "soon"),
        ("MAX_BODY_BYTES", "0"),
        ("LOG_LEVEL", "loud"),
        ("REFLECTIVE_ENV", "staging"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(env(tmp_path, **{name: value}), env_file=None)


def test_dotenv_file_does_not_override_the_environment(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("ACCESS_TOKEN_EXPIRE_MINUTES=7\nREFRESH_TOKEN_EXPIRE_DAYS=3\n")
    settings = Settings.from_env(env(tmp_path, REFRESH_TOKEN_EXPIRE_DAYS="9"), env_file=dotenv)
    assert settings.access_token_expire_minutes == 7
    assert settings.refresh_token_expire_days == 9


def test_hardening_settings(tmp_path: Path) -> None:
    defaults = Settings.from_env(env(tmp_path), env_file=None)
    assert defaults.rate_limit_register == (20, 3600)
    assert (defaults.db_lock_timeout_ms, defaults.db_statement_timeout_ms) == (5_000, 30_000)
    settings = Settings.from_env(
        env(
            tmp_path,
            RATE_LIMIT_REGISTER="5/60",
            RATE_LIMIT_EXPORT="0/1",
            DB_LOCK_TIMEOUT_MS="250",
            DB_COMMAND_TIMEOUT_SECONDS="9",
            MAX_TAGS_PER_USER="50",
        ),
        env_file=None,
    )
    assert settings.rate_limit_register == (5, 60) and settings.rate_limit_export == (0, 1)
    assert (settings.db_lock_timeout_ms, settings.db_command_timeout_seconds) == (250, 9)
    assert settings.max_tags_per_user == 50
    for bad in ("five", "5", "5/0", "-1/60"):
        with pytest.raises(SettingsError, match="RATE_LIMIT_AGGREGATE"):
            Settings.from_env(env(tmp_path, RATE_LIMIT_AGGREGATE=bad), env_file=None)


def test_admission_settings(tmp_path: Path) -> None:
    defaults = Settings.from_env(env(tmp_path), env_file=None)
    assert (defaults.admission_limit, defaults.admission_wait_seconds) == (20, 2.0)
    given = Settings.from_env(
        env(tmp_path, ADMISSION_LIMIT="8", ADMISSION_WAIT_SECONDS="0.5"), env_file=None
    )
    assert (given.admission_limit, given.admission_wait_seconds) == (8, 0.5)
    for name, value in [
        ("ADMISSION_LIMIT", "0"),
        ("ADMISSION_WAIT_SECONDS", "0"),
        ("ADMISSION_WAIT_SECONDS", "soon"),
        ("ADMISSION_WAIT_SECONDS", "inf"),
        ("ADMISSION_WAIT_SECONDS", "nan"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(env(tmp_path, **{name: value}), env_file=None)
