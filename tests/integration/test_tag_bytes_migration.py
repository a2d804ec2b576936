"""The migration that brings tags into the storage quota: accounts that had tags before it
start with their tags' bytes in the counter, and going down takes them out again."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres import migrate, to_async_url
from reflective_domain.tags import tag_size
from tests.integration.conftest import DatabaseFactory

A = "00000000-0000-0000-0000-000000000001"
B = "00000000-0000-0000-0000-000000000002"


def tag_bytes_revision() -> tuple[str, str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    (found,) = [r for r in script.walk_revisions() if r.path.endswith("_tag_bytes.py")]
    assert isinstance(found.down_revision, str)
    return found.revision, found.down_revision


async def test_existing_tags_join_the_counter_and_leave_it_going_down(
    pg_database_factory: DatabaseFactory,
) -> None:
    revision, before = tag_bytes_revision()
    url = await pg_database_factory("tag_bytes")
    await asyncio.to_thread(migrate.upgrade, url, before)
    engine = create_async_engine(to_async_url(url), poolclass=pool.NullPool)

    async def counters() -> dict[str, int]:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT email, stored_bytes FROM users"))
            return {email: int(stored) for email, stored in rows}

    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, timezone, locale,"
                    " daily_word_goal, theme_preferences, ai_features_enabled, privacy_tier,"
                    " version, created_at, updated_at, stored_bytes) VALUES"
                    f" ('{A}', 'a@x.io', 'h', 'UTC', 'en-US', 750, '{{}}', true, 'full_sync',"
                    "  1, now(), now(), 500),"
                    f" ('{B}', 'b@x.io', 'h', 'UTC', 'en-US', 750, '{{}}', true, 'local_only',"
                    "  1, now(), now(), 0)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO tags (user_id, id, name, name_key, color, created_at) VALUES"
                    f" ('{A}', gen_random_uuid(), 'Straße', 'strasse', '#A0B1C2', now()),"
                    f" ('{A}', gen_random_uuid(), 'Work', 'work', '#000000', now())"
                )
            )
        await asyncio.to_thread(migrate.upgrade, url, revision)
        tags = tag_size("Straße", "#A0B1C2") + tag_size("Work", "#000000")
        assert await counters() == {"a@x.io": 500 + tags, "b@x.io": 0}
        await asyncio.to_thread(migrate.downgrade, url, before)
        assert await counters() == {"a@x.io": 500, "b@x.io": 0}
    finally:
        await engine.dispose()
