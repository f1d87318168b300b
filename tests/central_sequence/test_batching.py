"""Batched numbering (services/central_sequence/batching.py) on the test database: requests that
arrive together are numbered by one statement, in the order they came, each element once.

Element types are unique to each test, and only the order of the numbers and their relations are
asserted: where the counter stands depends on what ran before."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.ownership import UNOWNED
from services.central_sequence import batching
from services.central_sequence.batching import BatchNumberer, numberer_for
from services.central_sequence.store import ElementKey


def keys(count: int) -> list[ElementKey]:
    kind = f"batch-{uuid.uuid4().hex[:12]}"
    return [ElementKey(kind, i) for i in range(1, count + 1)]


class Recording(BatchNumberer):
    """A numberer that records the keys of each statement it runs."""

    def __init__(self, engine: AsyncEngine, scope: str = "default", owner: str = UNOWNED) -> None:
        super().__init__(engine, owner, scope)
        self.batches: list[list[ElementKey]] = []

    async def _number_batch(self, keys: list[ElementKey]) -> dict[ElementKey, tuple[int, bool]]:
        self.batches.append(list(keys))
        return await super()._number_batch(keys)


async def test_requests_that_arrive_together_are_numbered_in_one_statement_in_their_order(engine: AsyncEngine) -> None:
    numberer = Recording(engine)
    together = keys(6)
    answers = await asyncio.gather(*(numberer.number(key) for key in together))
    numbers = [number for number, _ in answers]
    assert numbers == list(range(numbers[0], numbers[0] + 6))  # consecutive, in the order asked
    assert all(created for _, created in answers)
    assert numberer.batches == [together]
    alone = await numberer.number(keys(1)[0])
    assert alone == (numbers[-1] + 1, True) and len(numberer.batches) == 2


async def test_an_element_is_numbered_once_and_found_after(engine: AsyncEngine) -> None:
    numberer = Recording(engine)
    a, b = keys(2)
    together = await asyncio.gather(numberer.number(a), numberer.number(b), numberer.number(b), numberer.number(a))
    assert together[0][1] and together[1][1]  # the first request for each element numbered it
    assert together[2] == (together[1][0], False) and together[3] == (together[0][0], False)
    assert together[1][0] == together[0][0] + 1
    again = await numberer.number(a)
    assert again == (together[0][0], False)


async def test_a_batch_holds_at_most_max_batch_elements(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "MAX_BATCH", 3)
    numberer = Recording(engine)
    many = keys(8)
    answers = await asyncio.gather(*(numberer.number(key) for key in many))
    assert [len(batch) for batch in numberer.batches] == [3, 3, 2]
    assert [number for number, _ in answers] == list(range(answers[0][0], answers[0][0] + 8))


async def test_two_numberers_racing_on_the_same_elements_agree(engine: AsyncEngine) -> None:
    """Two processes' numberers: one statement loses on the unique key, runs again and reads the
    numbers the other gave."""
    left, right = BatchNumberer(engine, UNOWNED, "default"), BatchNumberer(engine, UNOWNED, "default")
    shared = keys(40)
    answers = await asyncio.gather(*(n.number(key) for key in shared for n in (left, right)))
    by_key = [answers[2 * i : 2 * i + 2] for i in range(len(shared))]
    assert all(a[0] == b[0] for a, b in by_key)
    assert all(a[1] != b[1] for a, b in by_key)  # exactly one of the two created each element
    numbers = sorted(a[0] for a, _ in by_key)
    assert numbers == list(range(numbers[0], numbers[0] + 40))


async def test_a_failed_statement_fails_every_request_of_its_batch_and_the_next_batch_runs(engine: AsyncEngine) -> None:
    numberer = Recording(engine)
    good = keys(2)
    too_long = ElementKey("x" * 65, 1)  # longer than the column allows
    first, created = await numberer.number(good[0])
    assert created
    results = await asyncio.gather(
        numberer.number(too_long), numberer.number(good[1]), numberer.number(too_long), return_exceptions=True
    )
    assert len(results) == 3 and all(isinstance(result, DBAPIError) for result in results)
    assert await numberer.number(good[1]) == (first + 1, True)  # nothing of the failed batch stayed


def test_one_numberer_per_engine_and_scope_of_an_account(engine: AsyncEngine) -> None:
    assert numberer_for(engine, UNOWNED, "default") is numberer_for(engine, UNOWNED, "default")
    assert numberer_for(engine, UNOWNED, "default").engine is engine
    assert numberer_for(engine, UNOWNED, "story-1") is not numberer_for(engine, UNOWNED, "default")
    assert numberer_for(engine, "alice", "default") is not numberer_for(engine, "bob", "default")
    assert numberer_for(engine, "alice", "default").owner == "alice"


async def test_scopes_are_numbered_apart_and_a_new_scope_is_created(engine: AsyncEngine) -> None:
    story = f"story-{uuid.uuid4().hex[:12]}"  # never used: the numberer creates it
    in_story = Recording(engine, story)
    in_default = Recording(engine)
    first, second = keys(2)
    answers = await asyncio.gather(in_story.number(first), in_story.number(second), in_default.number(first))
    assert answers[0] == (1, True) and answers[1] == (2, True)  # a scope of its own numbers from 1
    assert answers[2][1]  # the same element is another element in another scope


async def test_two_accounts_scopes_of_one_name_are_numbered_apart(engine: AsyncEngine) -> None:
    story = f"story-{uuid.uuid4().hex[:12]}"
    alices, bobs = Recording(engine, story, owner="alice"), Recording(engine, story, owner="bob")
    first, second = keys(2)
    answers = await asyncio.gather(alices.number(first), bobs.number(first), alices.number(second))
    assert answers == [(1, True), (1, True), (2, True)]
    assert await bobs.number(second) == (2, True)  # bob's scope never saw alice's second element


class EnqueuesDuringItsFirstBatch(Recording):
    """A numberer to which one more request comes while its first statement runs."""

    def __init__(self, engine: AsyncEngine, latecomer: ElementKey) -> None:
        super().__init__(engine)
        self.latecomer: ElementKey | None = latecomer
        self.latecomer_answer: asyncio.Future[tuple[int, bool]] | None = None

    async def _number_batch(self, keys: list[ElementKey]) -> dict[ElementKey, tuple[int, bool]]:
        if self.latecomer is not None:
            latecomer, self.latecomer = self.latecomer, None
            self.latecomer_answer = asyncio.ensure_future(self.number(latecomer))
            await asyncio.sleep(0)  # it queues while this statement runs
        return await super()._number_batch(keys)


async def test_a_request_that_came_during_a_failed_statement_is_still_numbered(engine: AsyncEngine) -> None:
    latecomer = keys(1)[0]
    numberer = EnqueuesDuringItsFirstBatch(engine, latecomer)
    with pytest.raises(DBAPIError):
        await numberer.number(ElementKey("x" * 65, 1))
    assert numberer.latecomer_answer is not None
    # Bounded only so that a numberer that stopped draining fails this test instead of hanging it.
    number, created = await asyncio.wait_for(numberer.latecomer_answer, 60)
    assert created and numberer.batches[-1] == [latecomer]


@contextlib.asynccontextmanager
async def losing_races(engine: AsyncEngine, element_type: str, times: int) -> AsyncIterator[None]:
    """The database refuses the first `times` inserts of `element_type` with the unique-key error a
    concurrent batch that numbered the element first causes (the failure is injected; PostgreSQL's
    sequences are not rolled back with the failed statement, so it counts every attempt)."""
    name = f"central_sequence.lose_race_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SEQUENCE {name}"))
        await conn.execute(
            text(
                f"""
                CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.element_type = '{element_type}' AND nextval('{name}') <= {times} THEN
                        RAISE unique_violation USING MESSAGE = 'a concurrent batch numbered it first';
                    END IF;
                    RETURN NEW;
                END $$
                """
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER lose_race BEFORE INSERT ON central_sequence.elements FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER lose_race ON central_sequence.elements"))
            await conn.execute(text(f"DROP FUNCTION {name}()"))
            await conn.execute(text(f"DROP SEQUENCE {name}"))


async def test_a_batch_that_loses_the_race_twice_is_numbered_by_its_third_statement(engine: AsyncEngine) -> None:
    numberer = Recording(engine)
    key, other = keys(2)
    async with losing_races(engine, key.element_type, times=2):
        number, created = await numberer.number(key)
    assert created and numberer.batches == [[key]]
    assert await numberer.number(other) == (number + 1, True)  # the lost attempts numbered nothing


async def test_a_batch_that_loses_the_race_three_times_fails_with_the_databases_error(engine: AsyncEngine) -> None:
    numberer = Recording(engine)
    key, other = keys(2)
    async with losing_races(engine, key.element_type, times=3):
        with pytest.raises(IntegrityError, match="a concurrent batch numbered it first"):
            await numberer.number(key)
        first, created = await numberer.number(key)  # the next request runs a statement of its own
    assert created
    assert await numberer.number(other) == (first + 1, True)
