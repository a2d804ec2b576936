"""The zero-knowledge audit: a two-device run with sentinel plaintexts, then a full pg_dump of
the database and every log line the process produced (stdlib logging at DEBUG for every
logger, structlog's rendered output on stderr) are searched for the sentinels, the password,
the entry key, the tag key and the HE secret key. Nothing may be found.

The second test proves the audit is not vacuous: it plants two leaks (a server middleware
that logs request bodies at DEBUG; a client that sends a tag name in the clear) and expects
the audit to catch both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reflective_client.device import Device
from tests.integration.client.audit import (
    Secret,
    bytes_secret,
    chunk_secret,
    find_leaks,
    pg_dump,
    text_secret,
)
from tests.integration.client.conftest import ASGI, close, new_device
from tests.integration.client.scenario import Texts, two_device_story


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """caplog at DEBUG on the root and on every logger that exists (some set their own
    level, e.g. httpx to WARNING)."""
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    previous = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    yield
    for logger, level, disabled in previous:
        logger.setLevel(level)
        logger.disabled = disabled


def secrets_of(texts: Texts, device: Device) -> list[Secret]:
    keys = device.keys
    assert keys.he is not None
    return [
        text_secret("sentinel", texts.marker),
        text_secret("tag sentinel", texts.tag_marker),
        text_secret("password", texts.password),
        bytes_secret("AES entry key", keys.aes_key),
        bytes_secret("tag key", keys.tag_key),
        chunk_secret("HE secret key", keys.he.secret_key),
    ]


def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> dict[str, bytes]:
    records = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''} {r.__dict__!r}"
        for r in caplog.records
    )
    out, err = capfd.readouterr()
    return {
        "logs (records)": records.encode(),
        "logs (caplog text)": caplog.text.encode(),
        "structlog/stdout": out.encode(),
        "structlog/stderr": err.encode(),
    }


async def test_the_server_never_sees_plaintext_or_keys(
    start_server: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    every_logger_at_debug: None,
) -> None:
    texts = Texts(marker=f"SENTINEL-{uuid.uuid4()}")
    dumps: dict[str, bytes] = {}
    async with start_server(log_level="DEBUG") as server:

        async def take_dump(stage: str) -> None:
            dumps[f"pg_dump at {stage}"] = await pg_dump(server.database_url)

        outcome = await two_device_story(server, tmp_path, texts, take_dump)
        await take_dump("end")

    peak = dumps["pg_dump at peak"]
    # The dump is real: it holds the account, the entries' ciphertexts and the metrics.
    assert texts.email.encode() in peak
    assert b"COPY public." in peak and len(peak) > 200_000
    haystacks = {**dumps, **logs(caplog, capfd)}
    # The server did log, down to DEBUG (requests, SQL statements, pool, migrations).
    assert len(caplog.records) > 100
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.name == "reflective.requests" for r in caplog.records)
    assert find_leaks(haystacks, secrets_of(texts, outcome.laptop)) == []


def body_logger(app: ASGI) -> ASGI:
    """The mutation: a server middleware that logs every request body at DEBUG."""
    log = logging.getLogger("reflective.requests.bodies")

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        messages, more = [], True
        while more:
            message = await receive()
            messages.append(message)
            more = message.get("more_body", False)
        body = b"".join(m.get("body", b"") for m in messages)
        log.debug(
            "request %s %s body=%s", scope["method"], scope["path"], body.decode(errors="replace")
        )
        replay = iter(messages)

        async def receive_again() -> Any:
            return next(replay, {"type": "http.disconnect"})

        return await app(scope, receive_again, send)

    return wrapped


async def test_the_audit_catches_a_body_log_and_a_plain_tag(
    start_server: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    every_logger_at_debug: None,
) -> None:
    texts = Texts(marker=f"SENTINEL-{uuid.uuid4()}")
    wrap: Callable[[ASGI], ASGI] = body_logger
    async with start_server(log_level="DEBUG", wrap=wrap) as server:
        laptop = new_device(server, tmp_path / "laptop")
        await laptop.register(texts.email, texts.password)
        await laptop.set_tier("full_sync")
        laptop.write(texts.first)
        await laptop.sync()
        # A client bug: a tag name sent in the clear (what the web client does today).
        await laptop.api.create_tag(texts.tag)
        dump = await pg_dump(server.database_url)
        await close(laptop)
    leaks = find_leaks({"pg_dump": dump, **logs(caplog, capfd)}, secrets_of(texts, laptop))
    assert "tag sentinel in pg_dump" in leaks  # the plain tag, stored as sent
    assert "tag sentinel in logs (records)" in leaks  # the body log: the plain tag's body
    assert "password in logs (records)" in leaks  # the body log: register and login bodies
    assert any(leak.startswith("HE secret key") for leak in leaks) is False
    # Entry texts are encrypted before they leave the device: even the body log holds only
    # their ciphertexts, so the entry sentinel itself is found nowhere.
    assert not any(leak.startswith("sentinel ") for leak in leaks)
