"""The interactive docs work without internet: every script, style and icon comes from this
server, and a real browser (Debian's chromium, headless) renders the operations."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.integration.api.conftest import Client
from tests.integration.test_startup import serving
from tests.system_tools import require

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
VIEWERS = ["/docs", "/docs/redoc"]


@pytest.mark.parametrize("page", VIEWERS)
async def test_docs_reference_no_external_host(client: Client, page: str) -> None:
    html = await client.get(page)
    assert html.status_code == 200
    references = _REFERENCE.findall(html.text)
    assert references, "the page loads its viewer from somewhere"
    for reference in references:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:)?//", reference, re.IGNORECASE), reference
        asset = await client.get(reference)
        assert asset.status_code == 200 and asset.content, reference
    assert "googleapis" not in html.text and "cdn." not in html.text


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, pg_database_url: str) -> Iterator[int]:
    tmp_path = tmp_path_factory.mktemp("docs")
    with serving(tmp_path, DATABASE_URL=pg_database_url, LOG_FORMAT="json") as server:
        server.stderr_until("Application startup complete")
        server.drain()
        yield server.port


@pytest.fixture(scope="module")
def browser() -> str:
    return require("chromium", "chromium-browser", package="chromium")


def render(browser: str, url: str) -> str:
    """The page's DOM after its scripts ran, in a headless chromium that cannot resolve any
    host but this one (so anything fetched from the internet would fail)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_swagger_ui_renders_operations_offline(browser: str, live_server: int) -> None:
    dom = render(browser, f"http://127.0.0.1:{live_server}/docs")
    assert "swagger-ui" in dom
    assert dom.count('class="opblock ') >= 20  # one per operation
    assert "/api/auth/register" in dom and "/api/sync/backup" in dom


@pytest.mark.slow
def test_redoc_renders_operations_offline(browser: str, live_server: int) -> None:
    dom = render(browser, f"http://127.0.0.1:{live_server}/docs/redoc")
    # Rendered, not just the embedded spec: one HTTP-verb badge per operation in the menu.
    assert len(re.findall(r"http-verb (?:get|post|put|patch|delete)", dom)) >= 20
    assert 'id="operation/register"' in dom or "operation/register" in dom
