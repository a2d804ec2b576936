"""DATABASE_URL forms the PostgreSQL adapter accepts (no server needed)."""

from __future__ import annotations

import pytest

from reflective_adapters.postgres.urls import redacted, to_async_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+psycopg2://u@db/app", "postgresql+asyncpg://u@db/app"),
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/data/pgdata",
            "postgresql+asyncpg://postgres:@/postgres?host=%2Ftmp%2Fdata%2Fpgdata",
        ),
        ("postgresql://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app?ssl=require"),
        (
            "postgresql://u@db/app?sslmode=require&ssl=verify-full",
            "postgresql+asyncpg://u@db/app?ssl=verify-full",
        ),
    ],
)
def test_converts_to_asyncpg(raw: str, expected: str) -> None:
    assert to_async_url(raw).render_as_string(hide_password=False) == expected


def test_unix_socket_url_keeps_the_socket_directory() -> None:
    url = to_async_url("postgresql://postgres:@/postgres?host=/some/dir")
    assert (url.host, url.database, url.username, url.password) == (
        None,
        "postgres",
        "postgres",
        "",
    )
    assert url.query["host"] == "/some/dir"


def test_password_with_special_characters_survives() -> None:
    url = to_async_url("postgresql://app:p%40ss%25w0rd@db/app")
    assert url.password == "p@ss%w0rd"


@pytest.mark.parametrize("raw", ["mysql://u@db/app", "sqlite:///x.db", "postgresql+foo://u@db/app"])
def test_rejects_other_databases(raw: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        to_async_url(raw)


@pytest.mark.parametrize(
    "raw",
    ["postgresql://u@db/app?foo=bar", "postgresql://u@db/app?sslmode=require&connect_timeout=5"],
)
def test_rejects_query_parameters_the_driver_does_not_take(raw: str) -> None:
    """asyncpg would fail on them later, with a TypeError naming a keyword argument."""
    unknown = "foo" if "foo" in raw else "connect_timeout"
    with pytest.raises(ValueError, match=f"unknown query parameter '{unknown}'"):
        to_async_url(raw)


@pytest.mark.parametrize("parameter", ["host=/run/pg", "port=5433", "ssl=require", "passfile=/p"])
def test_keeps_the_query_parameters_the_driver_takes(parameter: str) -> None:
    key, value = parameter.split("=")
    assert to_async_url(f"postgresql://u@db/app?{parameter}").query[key] == value


def test_redacted_hides_the_password() -> None:
    assert "s3cret" not in redacted("postgresql://app:s3cret@db/app")
