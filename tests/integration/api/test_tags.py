"""Tags: per user, unique by name (also under concurrent requests), cleanup, rename, delete."""

from __future__ import annotations

import asyncio
import uuid

from tests.integration.api.conftest import Account, Client


async def test_create_then_same_name_answers_the_existing_tag(
    client: Client, user: Account
) -> None:
    created = await client.post(
        "/api/tags", json={"name": "Travel", "color": "#12ab34"}, headers=user.headers
    )
    assert created.status_code == 201
    tag = created.json()
    assert (tag["name"], tag["color"]) == ("Travel", "#12AB34")
    assert tag["created_at"].endswith("Z")
    uuid.UUID(tag["id"])

    again = await client.post("/api/tags", json={"name": "  travel "}, headers=user.headers)
    assert again.status_code == 200
    assert again.json()["id"] == tag["id"]


async def test_colour_is_generated_and_validated(client: Client, user: Account) -> None:
    made = await client.post("/api/tags", json={"name": "work"}, headers=user.headers)
    assert made.status_code == 201
    assert made.json()["color"].startswith("#") and len(made.json()["color"]) == 7
    bad = await client.post("/api/tags", json={"name": "x", "color": "red"}, headers=user.headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "color"]
    empty = await client.post("/api/tags", json={"name": "   "}, headers=user.headers)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "name"]


async def test_list_is_by_name(client: Client, user: Account) -> None:
    for name in ("zebra", "Apple", "mango"):
        await client.post("/api/tags", json={"name": name}, headers=user.headers)
    response = await client.get("/api/tags", headers=user.headers)
    assert response.status_code == 200
    assert [t["name"] for t in response.json()] == ["Apple", "mango", "zebra"]
    assert set(response.json()[0]) == {"id", "name", "color", "created_at", "last_used_at"}


async def test_concurrent_creates_make_one_tag(client: Client, user: Account) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/tags", json={"name": "Same"}, headers=user.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_rename_recolour_and_collision(client: Client, user: Account) -> None:
    tag = (await client.post("/api/tags", json={"name": "old"}, headers=user.headers)).json()
    await client.post("/api/tags", json={"name": "taken"}, headers=user.headers)
    renamed = await client.patch(
        f"/api/tags/{tag['id']}", json={"name": "new", "color": "#000000"}, headers=user.headers
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["color"]) == ("new", "#000000")
    collision = await client.patch(
        f"/api/tags/{tag['id']}", json={"name": "TAKEN"}, headers=user.headers
    )
    assert collision.status_code == 409
    bad = await client.patch(f"/api/tags/{tag['id']}", json={"color": "#zz"}, headers=user.headers)
    assert bad.status_code == 422


async def test_delete(client: Client, user: Account) -> None:
    tag = (await client.post("/api/tags", json={"name": "gone"}, headers=user.headers)).json()
    assert (await client.delete(f"/api/tags/{tag['id']}", headers=user.headers)).status_code == 204
    assert (await client.delete(f"/api/tags/{tag['id']}", headers=user.headers)).status_code == 404
    assert (await client.get("/api/tags", headers=user.headers)).json() == []


async def test_cleanup(client: Client, user: Account) -> None:
    await client.post("/api/tags", json={"name": "fresh"}, headers=user.headers)
    response = await client.delete("/api/tags/cleanup?days=1", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["deleted_count"] == 0 and isinstance(response.json()["message"], str)
    default = await client.delete("/api/tags/cleanup", headers=user.headers)
    assert default.status_code == 200
    for days in ("0", "-3"):
        bad = await client.delete(f"/api/tags/cleanup?days={days}", headers=user.headers)
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "days"]
    not_a_number = await client.delete("/api/tags/cleanup?days=soon", headers=user.headers)
    assert not_a_number.status_code == 422
    assert not_a_number.json()["detail"][0]["loc"] == ["query", "days"]


async def test_tags_are_private(client: Client, user: Account, other_user: Account) -> None:
    tag = (await client.post("/api/tags", json={"name": "mine"}, headers=user.headers)).json()
    assert (await client.get("/api/tags", headers=other_user.headers)).json() == []
    patch = await client.patch(
        f"/api/tags/{tag['id']}", json={"name": "stolen"}, headers=other_user.headers
    )
    assert patch.status_code == 404
    delete = await client.delete(f"/api/tags/{tag['id']}", headers=other_user.headers)
    assert delete.status_code == 404
    # Same name for another user is another tag.
    theirs = await client.post("/api/tags", json={"name": "mine"}, headers=other_user.headers)
    assert theirs.status_code == 201 and theirs.json()["id"] != tag["id"]


async def test_malformed_and_unknown_ids_are_404(client: Client, user: Account) -> None:
    for path in ("/api/tags/not-a-uuid", f"/api/tags/{uuid.uuid4()}"):
        assert (await client.delete(path, headers=user.headers)).status_code == 404
        assert (await client.patch(path, json={}, headers=user.headers)).status_code == 404


async def test_tags_need_a_token(client: Client) -> None:
    assert (await client.get("/api/tags")).status_code == 401
    assert (await client.post("/api/tags", json={"name": "x"})).status_code == 401
