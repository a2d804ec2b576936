"""Lists a user can grow: tags are capped per user and paged; the export is written a page of
records at a time and is the same document the one-shot export makes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
from dependency_injector import providers

from reflective_app.container import Container
from reflective_app.dto.export import export_document
from reflective_domain.use_cases.export import ExportData, ExportPages
from tests.integration.api.conftest import Account, Client, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload

AppWith = Callable[..., AbstractAsyncContextManager[Client]]


async def test_tags_are_capped_per_user(app_with: AppWith) -> None:
    async with app_with(max_tags_per_user=3) as client:
        ada = await sign_up(client)
        codes = [
            (
                await client.post("/api/tags", json={"name": f"tag {n}"}, headers=ada.headers)
            ).status_code
            for n in range(5)
        ]
        assert codes == [201, 201, 201, 413, 413]
        refused = await client.post("/api/tags", json={"name": "tag 9"}, headers=ada.headers)
        assert "at most 3 tags" in refused.json()["detail"]
        # An existing name is still answered (200), and nothing over the cap was kept.
        again = await client.post("/api/tags", json={"name": "TAG 1"}, headers=ada.headers)
        assert again.status_code == 200
        listed = await client.get("/api/tags", headers=ada.headers)
        assert [t["name"] for t in listed.json()] == ["tag 0", "tag 1", "tag 2"]


async def test_tags_are_paged(client: Client, user: Account) -> None:
    for n in range(5):
        await client.post("/api/tags", json={"name": f"t{n}"}, headers=user.headers)
    first = await client.get("/api/tags", params={"limit": 2}, headers=user.headers)
    rest = await client.get("/api/tags", params={"limit": 2, "offset": 2}, headers=user.headers)
    last = await client.get("/api/tags", params={"limit": 2, "offset": 4}, headers=user.headers)
    names = [t["name"] for r in (first, rest, last) for t in r.json()]
    assert names == ["t0", "t1", "t2", "t3", "t4"]
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        response = await client.get("/api/tags", params=bad, headers=user.headers)
        assert response.status_code == 422, bad


def _by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item["id"]))


class _CountingPages(ExportPages):
    """Records the size of every page read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages: list[int] = []

    async def _pages(self, read: Any, size: int) -> Any:  # type: ignore[override]
        async for page in super()._pages(read, size):
            self.pages.append(len(page))
            yield page


async def test_the_export_is_written_page_by_page_and_whole(
    client: Client,
    user: Account,
    other_user: Account,
    he_vectors: dict[str, Any],
    api_container: Container,
) -> None:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    await set_tier(client, other_user, "full_sync", he_vectors["public_key"])
    await client.post("/api/tags", json={"name": "travel"}, headers=user.headers)
    ids = [uuid.uuid4() for _ in range(5)]
    for entry_id in ids:
        pushed = await client.post(
            "/api/sync/backup", json=entry_upload(entry_id), headers=user.headers
        )
        assert pushed.status_code == 201
    # A conflict: another device writes over what it has not seen.
    clash = await client.post(
        "/api/sync/backup",
        json=entry_upload(ids[0], device="phone", content=b"other"),
        headers=user.headers,
    )
    assert clash.status_code == 409
    await client.post("/api/sync/backup", json=entry_upload(), headers=other_user.headers)
    metrics = [
        {k: m[k] for k in ("metric_type", "encrypted_value", "timestamp")}
        for m in he_vectors["metrics"][:3]
    ]
    stored = await client.post(
        "/api/encryption/metrics", json={"metrics": metrics}, headers=user.headers
    )
    assert stored.status_code == 201

    uow = api_container.uow_factory()
    pages = _CountingPages(uow, entry_page=2, conflict_page=2, metric_page=2)
    with api_container.export_pages.override(providers.Object(pages)):
        response = await client.get("/api/users/me/export", headers=user.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    streamed = json.loads(response.content)
    assert max(pages.pages) <= 2 and len(pages.pages) >= 3 + 1 + 2  # entries, conflict, metrics

    # The same document as the one-shot export (which orders records differently).
    bundle = await ExportData(uow)(uuid.UUID(user.id))
    whole = msgspec.json.decode(
        msgspec.json.encode(export_document(bundle, bundle.user.created_at))
    )
    streamed["exported_at"] = whole["exported_at"]
    for section in ("entries", "conflicts", "metrics"):
        assert _by_id(streamed[section]) == _by_id(whole[section]), section
        streamed[section] = whole[section] = None
    assert streamed == whole
    assert len(bundle.entries) == 5 and len(bundle.conflicts) == 1 and len(bundle.metrics) == 3


async def test_devices_and_sessions_are_paged(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    # Every device id a pull names is recorded, and every sign-in is a session: both lists
    # grow with what any client sends, so they come a page at a time.
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    stored = await client.post("/api/sync/backup", json=entry_upload(), headers=user.headers)
    assert stored.status_code == 201, stored.text
    for n in range(4):
        pulled = await client.get(
            "/api/sync/changes", params={"device_id": f"d{n}"}, headers=user.headers
        )
        assert pulled.status_code == 200, pulled.text
        signed_in = await client.post(
            "/api/auth/token", data={"username": user.email, "password": user.password}
        )
        assert signed_in.status_code == 200, signed_in.text
    for route, key, total in (
        ("/api/sync/devices", "devices", 5),
        ("/api/auth/sessions", "sessions", 5),
    ):
        pages = [
            (await client.get(route, params={"limit": 2, "offset": o}, headers=user.headers)).json()
            for o in range(0, total, 2)
        ]
        items = [item for page in pages for item in page[key]]
        assert len(items) == total and len({str(item) for item in items}) == total, route
        assert [len(page[key]) for page in pages] == [2] * (total // 2) + [1] * (total % 2)
        assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
        assert {page["total_count"] for page in pages} == {total}
        whole = (await client.get(route, headers=user.headers)).json()
        assert whole[key] == items and whole["has_more"] is False, route  # default 100
        for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
            response = await client.get(route, params=bad, headers=user.headers)
            assert response.status_code == 422, (route, bad)
            assert response.json()["code"] == "validation_failed", (route, bad)
