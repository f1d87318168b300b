"""Two accounts and an admin against the service scaffolded with --auth from inputs/owned.sql (author
with a unique email, book pointing to its author), through the gateway's headers with the secret set.
Copied into the scaffolded copy's tests/owned/ by test_scaffold_auth.py and run there."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli.ownership_transfer import transfer
from fountain_common.settings import Settings
from tests.in_process import service_app

SECRET = "secret-of-the-two-accounts-checks"
Account = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def account(database_url: str, engine: AsyncEngine) -> AsyncIterator[Account]:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE owned.author, owned.book RESTART IDENTITY CASCADE"))
    app = service_app("owned", Settings(database_url=database_url, gateway_secret=SECRET), engine)
    clients: list[httpx.AsyncClient] = []

    def make(name: str, role: str = "writer") -> httpx.AsyncClient:
        headers = {
            "X-Consumer-ID": f"id-of-{name}",
            "X-Consumer-Username": name,
            "X-Credential-Identifier": f"key-of-{name}",
            "X-Consumer-Groups": role,
            "X-Fountain-Gateway": SECRET,
        }
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_two_accounts_keep_their_rows_apart(account: Account) -> None:
    alice, bob, admin = account("alice"), account("bob"), account("root", "admin")
    author = (await alice.post("/v1/author", json={"name": "Ann", "email": "ann@example.org"})).json()
    book = (await alice.post("/v1/book", json={"authorId": author["id"], "title": "One"})).json()
    assert author["owner"] == "alice" and book["owner"] == "alice"

    # Another account's rows are missing, whatever the way in.
    for url in (f"/v1/author/{author['id']}", f"/v1/book/{book['id']}"):
        assert (await bob.get(url)).status_code == 404
        assert (await bob.patch(url, json={})).status_code == 404
        assert (await bob.delete(url)).status_code == 404
    assert (await bob.get("/v1/author")).json()["total"] == 0
    assert (await bob.get("/v1/book", params={"authorId": author["id"]})).json()["total"] == 0
    assert (await bob.get("/v1/author", params={"email": "ann@example.org"})).json()["items"] == []
    upsert = await bob.put("/v1/author", json=[{"id": author["id"], "name": "Taken", "email": "b@example.org"}])
    assert upsert.status_code == 409 and "alice" not in upsert.text
    assert (await bob.delete("/v1/author", params={"allRows": "true"})).json() == {"count": 0}

    # The same unique value is fine for two accounts; a reference to another account's row is refused.
    own = await bob.post("/v1/author", json={"name": "Ann", "email": "ann@example.org"})
    assert own.status_code == 201, own.text
    refused = await bob.post("/v1/book", json={"authorId": author["id"], "title": "Stolen"})
    assert refused.status_code == 400 and "authorId" in refused.json()["message"] and "alice" not in refused.text
    batch = await bob.post("/v1/book-batch", json=[{"authorId": author["id"], "title": "Stolen"}])
    assert batch.status_code == 400
    mine = await bob.post("/v1/book", json={"authorId": own.json()["id"], "title": "Two"})
    assert mine.status_code == 201
    again = await bob.post("/v1/author", json={"name": "Ann", "email": "ann@example.org"})
    assert again.status_code == 409  # unique within one account still
    upsert = await bob.put(
        "/v1/author", params={"onConflict": "email"}, json=[{"name": "Bob's Ann", "email": "ann@example.org"}]
    )
    assert upsert.status_code == 200, upsert.text
    assert [row["id"] for row in upsert.json()] == [own.json()["id"]]  # bob's row, not alice's
    assert (await alice.get(f"/v1/author/{author['id']}")).json()["name"] == "Ann"

    # Embeds leave another account's rows out; the owner is never given by a request.
    embedded = (await alice.get(f"/v1/author/{author['id']}", params={"embed": "book"})).json()
    assert [b["title"] for b in embedded["book"]] == ["One"]
    assert (await alice.post("/v1/author", json={"name": "X", "email": "x@e.org", "owner": "bob"})).status_code == 400

    # Each account lists its own; an admin every row, and may filter by owner.
    assert (await alice.get("/v1/author")).json()["total"] == 1
    assert (await bob.get("/v1/book")).json()["items"][0]["title"] == "Two"
    every = (await admin.get("/v1/author", params={"orderBy": "owner"})).json()
    assert every["total"] == 2 and [a["owner"] for a in every["items"]] == ["alice", "bob"]
    assert (await admin.get("/v1/book", params={"owner": "bob"})).json()["total"] == 1
    assert (await admin.get(f"/v1/book/{book['id']}")).status_code == 200

    # A row deleted by its owner; the other account's stays.
    assert (await alice.delete(f"/v1/author/{author['id']}")).status_code == 204
    assert (await bob.get("/v1/author")).json()["total"] == 1


async def test_rows_of_no_account_are_claimed_together(
    account: Account, database_url: str, engine: AsyncEngine
) -> None:
    """Rows made with no identity checked belong to no account; `fountain accounts claim` moves a
    table and the rows referring to it in one go, though each reference is over (owner, key)."""
    unchecked = service_app("owned", Settings(database_url=database_url), engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=unchecked), base_url="http://t") as nobody:
        author = (await nobody.post("/v1/author", json={"name": "Old", "email": "old@example.org"})).json()
        book = (await nobody.post("/v1/book", json={"authorId": author["id"], "title": "Old"})).json()
    assert author["owner"] == "" and book["owner"] == ""
    carol = account("carol")
    assert (await carol.get(f"/v1/book/{book['id']}")).status_code == 404
    moved = await transfer(database_url, "carol")
    assert {m.table: m.rows for m in moved if m.table.startswith("owned.")} == {"owned.author": 1, "owned.book": 1}
    claimed = (await carol.get(f"/v1/book/{book['id']}", params={"embed": "author"})).json()
    assert claimed["owner"] == "carol" and claimed["author"]["owner"] == "carol"
