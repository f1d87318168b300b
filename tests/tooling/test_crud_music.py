"""The shared CRUD logic (fountain_common/crud/) over Chinook's music tables: `select=` of fields,
embedding in both directions (the row a foreign key points to, the rows pointing to this one, rows
linked through a join table), nested, with one query per embedded relation; writes of many rows at
once, upserts, and changes and deletes by filter with their guard."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Numeric, String, Table, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fountain_common.crud import (
    Embed,
    Resource,
    create_rows,
    delete_rows,
    get_row,
    list_rows,
    update_rows,
    upsert_rows,
)
from fountain_common.problems import Problem, invalid

SCHEMA = "crud_music"
metadata = MetaData(schema=SCHEMA)
artist = Table(
    "artist", metadata, Column("artist_id", Integer, primary_key=True), Column("name", String(120), nullable=True)
)
album = Table(
    "album",
    metadata,
    Column("album_id", Integer, primary_key=True),
    Column("title", String(160), nullable=False),
    Column("artist_id", Integer, ForeignKey("artist.artist_id"), nullable=False),
)
genre = Table("genre", metadata, Column("genre_id", Integer, primary_key=True), Column("name", String(120)))
track = Table(
    "track",
    metadata,
    Column("track_id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("album_id", Integer, ForeignKey("album.album_id"), nullable=True),
    Column("genre_id", Integer, ForeignKey("genre.genre_id"), nullable=True),
    Column("unit_price", Numeric(10, 2), nullable=False),
)
playlist = Table(
    "playlist", metadata, Column("playlist_id", Integer, primary_key=True), Column("name", String(120), unique=True)
)
playlist_track = Table(
    "playlist_track",
    metadata,
    Column("playlist_id", Integer, ForeignKey("playlist.playlist_id"), primary_key=True),
    Column("track_id", Integer, ForeignKey("track.track_id"), primary_key=True),
)
# What `fountain scaffold` derives from Chinook's foreign keys (tests/tooling/test_scaffold_api.py).
RELATIONS = {
    "artist": (Embed("album", "artist_id", album, "artist_id", many=True),),
    "album": (
        Embed("artist", "artist_id", artist, "artist_id"),
        Embed("track", "album_id", track, "album_id", many=True),
    ),
    "genre": (Embed("track", "genre_id", track, "genre_id", many=True),),
    "track": (
        Embed("album", "album_id", album, "album_id"),
        Embed("genre", "genre_id", genre, "genre_id"),
        Embed("playlistTrack", "track_id", playlist_track, "track_id", many=True),
        Embed(
            "playlist",
            "track_id",
            playlist,
            "playlist_id",
            through=playlist_track,
            through_source="track_id",
            through_target="playlist_id",
        ),
    ),
    "playlist": (
        Embed("playlistTrack", "playlist_id", playlist_track, "playlist_id", many=True),
        Embed(
            "track",
            "playlist_id",
            track,
            "track_id",
            through=playlist_track,
            through_source="playlist_id",
            through_target="track_id",
        ),
    ),
}
ARTISTS = Resource(artist, "/v1/artist", RELATIONS)
ALBUMS = Resource(album, "/v1/album", RELATIONS)
TRACKS = Resource(track, "/v1/track", RELATIONS)
PLAYLISTS = Resource(playlist, "/v1/playlist", RELATIONS)
PLAYLIST_TRACKS = Resource(playlist_track, "/v1/playlist-track", RELATIONS)
ROWS = {
    artist: [(1, "AC/DC"), (2, "Accept"), (3, "Aerosmith")],
    album: [(1, "For Those About To Rock", 1), (2, "Let There Be Rock", 1), (3, "Balls to the Wall", 2)],
    genre: [(1, "Rock"), (2, "Metal")],
    track: [
        (1, "For Those About To Rock", 1, 1, "0.99"),
        (2, "Put The Finger On You", 1, 1, "0.99"),
        (3, "Go Down", 2, 1, "0.99"),
        (4, "Balls to the Wall", 3, 2, "1.29"),
        (5, "Loose Track", None, None, "0.49"),
    ],
    playlist: [(1, "Music"), (2, "Heavy"), (3, "Empty")],
    playlist_track: [(1, 1), (1, 3), (1, 4), (2, 4)],
}


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(metadata.create_all)
        for table, rows in ROWS.items():
            await connection.execute(table.insert(), [dict(zip(table.c.keys(), row, strict=True)) for row in rows])
        yield connection
        await transaction.rollback()


class Statements:
    """Counts the statements run on a connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.count = 0
        event.listen(conn.sync_connection, "before_cursor_execute", self.seen)

    def seen(self, *_: Any) -> None:
        self.count += 1


async def test_select_answers_only_the_fields_asked_for(conn: AsyncConnection) -> None:
    page = await list_rows(conn, TRACKS, filters={}, order_by="-unitPrice", limit=2, offset=0, select_="name,unitPrice")
    assert page["items"] == [
        {"name": "Balls to the Wall", "unitPrice": "1.29"},
        {"name": "For Those About To Rock", "unitPrice": "0.99"},
    ]
    assert page["total"] == 5
    assert await get_row(conn, TRACKS, 3, select_="unitPrice,trackId") == {"unitPrice": "0.99", "trackId": 3}


@pytest.mark.parametrize("given", ["name,noSuchField", "", "name,,trackId", "track_id", "name, trackId"])
async def test_select_of_an_unknown_field_is_refused_naming_it(conn: AsyncConnection, given: str) -> None:
    with pytest.raises(Problem) as refused:
        await list_rows(conn, TRACKS, filters={}, order_by=None, limit=5, offset=0, select_=given)
    assert refused.value.status == invalid("").status  # 400 on /v1
    assert "select:" in str(refused.value.detail)
    assert "fields: trackId, name, albumId, genreId, unitPrice" in str(refused.value.detail)
    if given == "name,noSuchField":
        assert "'noSuchField' is not a field of track" in str(refused.value.detail)


async def test_embedding_follows_foreign_keys_both_ways_two_levels_deep(conn: AsyncConnection) -> None:
    statements = Statements(conn)
    page = await list_rows(
        conn, ARTISTS, filters={}, order_by=None, limit=50, offset=0, embed="album(track(genre))", select_="name"
    )
    # The page (the last one: its rows are the total, no count query), then one query per level:
    # albums, tracks, genres.
    assert statements.count == 1 + 3
    acdc, accept, aerosmith = page["items"]
    assert acdc["name"] == "AC/DC"
    assert [a["title"] for a in acdc["album"]] == ["For Those About To Rock", "Let There Be Rock"]
    assert [t["name"] for t in acdc["album"][0]["track"]] == ["For Those About To Rock", "Put The Finger On You"]
    assert acdc["album"][0]["track"][0]["genre"] == {"genreId": 1, "name": "Rock"}
    assert accept["album"][0]["track"][0]["genre"]["name"] == "Metal"
    assert aerosmith == {"name": "Aerosmith", "album": []}  # no albums: an empty list, not a missing field

    upward = await get_row(conn, TRACKS, 3, embed="album(artist),genre", select_="name")
    assert upward == {
        "name": "Go Down",
        "album": {
            "albumId": 2,
            "title": "Let There Be Rock",
            "artistId": 1,
            "artist": {"artistId": 1, "name": "AC/DC"},
        },
        "genre": {"genreId": 1, "name": "Rock"},
    }
    loose = await get_row(conn, TRACKS, 5, embed="album,playlist")
    assert loose["album"] is None and loose["playlist"] == []


async def test_embedding_through_a_join_table_links_many_to_many(conn: AsyncConnection) -> None:
    statements = Statements(conn)
    page = await list_rows(conn, PLAYLISTS, filters={}, order_by=None, limit=50, offset=0, embed="track(album)")
    assert statements.count == 1 + 2  # the page (the last one, so not counted), tracks, albums
    tracks = {p["name"]: [t["name"] for t in p["track"]] for p in page["items"]}
    assert tracks == {
        "Music": ["For Those About To Rock", "Go Down", "Balls to the Wall"],
        "Heavy": ["Balls to the Wall"],
        "Empty": [],
    }
    assert page["items"][1]["track"][0]["album"]["title"] == "Balls to the Wall"
    assert "playlistId" not in page["items"][0]["track"][0]  # the join table's columns stay out

    heavy = await get_row(conn, TRACKS, 4, embed="playlist,playlistTrack", select_="trackId")
    assert heavy == {
        "trackId": 4,
        "playlist": [{"playlistId": 1, "name": "Music"}, {"playlistId": 2, "name": "Heavy"}],
        "playlistTrack": [{"playlistId": 1, "trackId": 4}, {"playlistId": 2, "trackId": 4}],
    }


async def test_select_names_embedded_rows_fields_by_their_path(conn: AsyncConnection) -> None:
    statements = Statements(conn)
    page = await list_rows(
        conn,
        ARTISTS,
        filters={},
        order_by=None,
        limit=1,
        offset=0,
        embed="album(track(genre))",
        select_="name,album.title,album.track.name,album.track.unitPrice,album.track.genre.name",
    )
    assert statements.count == 2 + 3  # still one query per level
    rock = {"name": "Rock"}
    assert page["items"] == [
        {
            "name": "AC/DC",
            "album": [
                {
                    "title": "For Those About To Rock",
                    "track": [
                        {"name": "For Those About To Rock", "unitPrice": "0.99", "genre": rock},
                        {"name": "Put The Finger On You", "unitPrice": "0.99", "genre": rock},
                    ],
                },
                {"title": "Let There Be Rock", "track": [{"name": "Go Down", "unitPrice": "0.99", "genre": rock}]},
            ],
        }
    ]
    # A path embeds its relations without embed=; a level none of whose fields are named answers all;
    # a field named twice is answered once.
    upward = await get_row(conn, TRACKS, 3, select_="album.artist.name,album.artist.name,playlist.name")
    assert upward == {
        "trackId": 3,
        "name": "Go Down",
        "albumId": 2,
        "genreId": 1,
        "unitPrice": "0.99",
        "album": {"albumId": 2, "title": "Let There Be Rock", "artistId": 1, "artist": {"name": "AC/DC"}},
        "playlist": [{"name": "Music"}],
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "album.noSuchField",
            "select: 'noSuchField' is not a field of album (album); fields: albumId, title, artistId",
        ),
        ("albums.title", "Cannot embed albums in artist rows; embeddable: album."),
        ("album.", "select: 'album.' is not a field path"),
        ("album.track.album.track.name", "at most 3 relations deep"),
    ],
)
async def test_a_bad_field_path_is_refused_saying_why(conn: AsyncConnection, given: str, message: str) -> None:
    with pytest.raises(Problem) as refused:
        await get_row(conn, ARTISTS, 1, select_=given)
    assert refused.value.status == invalid("").status  # 400 on /v1
    assert message in str(refused.value.detail)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("albums", "Cannot embed albums in artist rows; embeddable: album"),
        ("album(tracks)", "Cannot embed tracks in album rows; embeddable: artist, track"),
        ("album(track", "a parenthesis is not closed"),
        ("album,", "a name expected, the end found"),
        ("", "a name expected, the end found"),
        ("album, track", "a name expected, ' ' found"),
        ("album)", "')' unexpected"),
        ("album(track(album(track)))", "at most 3 levels of nesting"),
    ],
)
async def test_a_bad_embed_is_refused_saying_why(conn: AsyncConnection, given: str, message: str) -> None:
    with pytest.raises(Problem) as refused:
        await get_row(conn, ARTISTS, 1, embed=given)
    assert refused.value.status == invalid("").status  # 400 on /v1
    assert message in str(refused.value.detail)


async def names(conn: AsyncConnection, resource: Resource, **filters: str) -> list[str]:
    page = await list_rows(conn, resource, filters=filters, order_by=None, limit=50, offset=0, select_="name")
    return [item["name"] for item in page["items"]]


async def test_many_rows_are_created_in_one_statement_all_or_none(conn: AsyncConnection) -> None:
    statements = Statements(conn)
    created = await create_rows(conn, ARTISTS, [{"artistId": 10, "name": "Queen"}, {"artistId": 11}])
    assert statements.count == 1
    assert created == [{"artistId": 10, "name": "Queen"}, {"artistId": 11, "name": None}]
    # The second row repeats a key: the first is not kept either (the savepoint stands for the
    # transaction of the request, which the route rolls back).
    with pytest.raises(Problem) as refused:
        async with conn.begin_nested():
            await create_rows(conn, ARTISTS, [{"artistId": 12, "name": "Rush"}, {"artistId": 1, "name": "Again"}])
    assert refused.value.status == 409
    assert "Rush" not in await names(conn, ARTISTS)


async def test_upsert_inserts_new_rows_and_changes_those_matching_the_key_or_a_unique_field(
    conn: AsyncConnection,
) -> None:
    answered = await upsert_rows(conn, ARTISTS, [{"artistId": 1, "name": "AC-DC"}, {"artistId": 20, "name": "Yes"}])
    assert answered == [{"artistId": 1, "name": "AC-DC"}, {"artistId": 20, "name": "Yes"}]
    assert await names(conn, ARTISTS) == ["AC-DC", "Accept", "Aerosmith", "Yes"]

    on_name = await upsert_rows(conn, PLAYLISTS, [{"playlistId": 9, "name": "Empty"}], on_conflict="name")
    assert on_name == [{"playlistId": 9, "name": "Empty"}]  # the row named Empty took the new key
    assert await names(conn, PLAYLISTS) == ["Music", "Heavy", "Empty"]


@pytest.mark.parametrize(
    ("rows", "on_conflict", "message"),
    [
        ([{"name": "No key"}], None, "Every row of an upsert on playlistId gives playlistId."),
        ([{"playlistId": 1, "name": "A"}, {"playlistId": 2}], None, "Every row of an upsert gives the same fields"),
        ([{"playlistId": 5, "name": "A"}, {"playlistId": 5, "name": "B"}], None, "Two rows of the request have"),
        ([{"playlistId": 5}], "nope", "onConflict: 'nope' is neither the key nor unique; one of: playlistId; name."),
    ],
)
async def test_a_bad_upsert_is_refused_saying_why(
    conn: AsyncConnection, rows: list[dict[str, Any]], on_conflict: str | None, message: str
) -> None:
    with pytest.raises(Problem) as refused:
        await upsert_rows(conn, PLAYLISTS, rows, on_conflict=on_conflict)
    assert refused.value.status == invalid("").status
    assert message in str(refused.value.detail)


async def test_changes_and_deletes_by_filter_touch_the_matching_rows_and_every_row_only_when_asked(
    conn: AsyncConnection,
) -> None:
    changed = await update_rows(conn, TRACKS, {"unit_price": "eq.0.99", "album_id": "eq.1"}, {"unitPrice": "0.89"})
    assert changed == {"count": 2}
    assert await names(conn, TRACKS, unit_price="eq.0.89") == ["For Those About To Rock", "Put The Finger On You"]
    assert await update_rows(conn, TRACKS, {"name": "eq.Nothing"}, {"unitPrice": "2"}) == {"count": 0}

    with pytest.raises(Problem) as unguarded:
        await delete_rows(conn, PLAYLISTS, {"name": None})
    assert "Give at least one filter to choose the playlist rows, or allRows=true" in str(unguarded.value.detail)
    with pytest.raises(Problem):
        await update_rows(conn, TRACKS, {}, {"unitPrice": "0"})
    with pytest.raises(Problem) as referenced:  # a playlist track still points to playlist 2
        async with conn.begin_nested():
            await delete_rows(conn, PLAYLISTS, {"name": "eq.Heavy"})
    assert referenced.value.status == 409
    assert await delete_rows(conn, PLAYLISTS, {"name": "eq.Empty"}) == {"count": 1}
    assert await update_rows(conn, TRACKS, {}, {"unitPrice": "1.00"}, all_rows=True) == {"count": 5}
    assert await delete_rows(conn, PLAYLIST_TRACKS, {}, all_rows=True) == {"count": 4}
