"""Numbering stays unique and gapless with three service processes on one database and 32
concurrent clients allocating, re-allocating, inserting, moving, reordering and versioning."""

import asyncio
import random
from collections import defaultdict

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.central_sequence.conftest import reset_numbering
from tests.service_processes import serve

PROCESSES = 3
CLIENTS = 32
ALLOCATIONS_PER_CLIENT = 80  # 2,560 allocations in phase 1
MIXED_PER_CLIENT = 40  # 1,280 mixed operations in phase 2
ELEMENT_IDS = 1500  # fewer ids than allocations: many requests number an element already numbered

pytestmark = pytest.mark.slow


async def assert_gapless(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) AS n, count(DISTINCT sequence_number) AS distinct_numbers, "
                    "min(sequence_number) AS low, max(sequence_number) AS high FROM central_sequence.elements"
                )
            )
        ).one()
        counter = (await conn.execute(text("SELECT last_value FROM central_sequence.sequence_counter"))).scalar_one()
    assert row.n == row.distinct_numbers, "two elements hold the same number"
    assert (row.low, row.high) == (1, row.n), f"numbers are not 1..{row.n}: {row.low}..{row.high}"
    assert counter == row.n
    return int(row.n)


async def test_many_processes_and_clients_keep_numbers_unique_and_gapless(
    engine: AsyncEngine, database_url: str
) -> None:
    await reset_numbering(engine)
    with serve(["central_sequence"], database_url, count=PROCESSES) as urls:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            # Phase 1: allocations only; many clients race to number the same elements.
            answers: dict[tuple[str, int], set[int]] = defaultdict(set)
            created: list[tuple[str, int]] = []

            async def allocate(client: int) -> None:
                rng = random.Random(client)
                for n in range(ALLOCATIONS_PER_CLIENT):
                    key = (rng.choice(["script", "section", "character"]), rng.randint(1, ELEMENT_IDS))
                    url = urls[(client + n) % PROCESSES]
                    response = await http.post(f"{url}/v1/sequence", json={"elementType": key[0], "elementId": key[1]})
                    assert response.status_code in (200, 201), response.text
                    answers[key].add(response.json()["sequenceNumber"])
                    if response.status_code == 201:
                        created.append(key)

            await asyncio.gather(*(allocate(c) for c in range(CLIENTS)))
            assert all(len(numbers) == 1 for numbers in answers.values()), "an element was answered two numbers"
            assert sorted(created) == sorted(answers), "an element was created twice, or numbered without a 201"
            total = await assert_gapless(engine)
            assert total == len(answers)

            # Phase 2: everything at once.
            keys = sorted(answers)
            outcomes: dict[str, int] = defaultdict(int)

            async def mixed(client: int) -> None:
                rng = random.Random(1000 + client)
                for n in range(MIXED_PER_CLIENT):
                    url = urls[(client + n) % PROCESSES]
                    choice = rng.random()
                    a, b = rng.sample(keys, 2)
                    if choice < 0.3:
                        response = await http.post(
                            f"{url}/v1/sequence", json={"elementType": "action", "elementId": client * 1000 + n + 1}
                        )
                    elif choice < 0.45:
                        response = await http.post(
                            f"{url}/v2/elements",
                            json={
                                "elementType": "spokenWord",
                                "elementId": client * 1000 + n + 1,
                                "sequenceNumber": rng.randint(1, total),
                            },
                        )
                    elif choice < 0.65:
                        response = await http.post(
                            f"{url}/v2/elements/{a[0]}/{a[1]}/move", json={"sequenceNumber": rng.randint(1, total)}
                        )
                    elif choice < 0.85:
                        if choice < 0.75:  # v1: two elements of one type
                            b = rng.choice([k for k in keys if k[0] == a[0] and k != a])
                        held = [
                            (await http.get(f"{url}/v2/elements/{k[0]}/{k[1]}")).json()["sequenceNumber"]
                            for k in (a, b)
                        ]
                        if choice < 0.75:
                            response = await http.post(
                                f"{url}/v1/sequence/reorder",
                                json={
                                    "elementType": a[0],
                                    "elements": [
                                        {"elementId": a[1], "newSequence": held[1]},
                                        {"elementId": b[1], "newSequence": held[0]},
                                    ],
                                },
                            )
                        else:
                            response = await http.post(
                                f"{url}/v2/reorder",
                                json={
                                    "elements": [
                                        {"elementType": a[0], "elementId": a[1], "sequenceNumber": held[1]},
                                        {"elementType": b[0], "elementId": b[1], "sequenceNumber": held[0]},
                                    ]
                                },
                            )
                    else:
                        response = await http.post(
                            f"{url}/v1/sequence/version",
                            json={"elementType": a[0], "elementId": a[1], "newVersionData": {"by": client, "n": n}},
                        )
                    # 400 (v1) / 422 (v2): a reorder built from numbers that changed before it ran;
                    # nothing is applied.
                    assert response.status_code in (200, 201, 400, 422), response.text
                    outcomes[f"{response.request.url.path.split('/')[-1]} {response.status_code}"] += 1

            await asyncio.gather(*(mixed(c) for c in range(CLIENTS)))
    refused = sum(v for k, v in outcomes.items() if k.endswith(("400", "422")))
    assert refused < CLIENTS * MIXED_PER_CLIENT // 4, outcomes
    assert outcomes["reorder 200"] > 0, outcomes
    await assert_gapless(engine)
    async with engine.connect() as conn:
        broken = (
            await conn.execute(
                text(
                    """
                    SELECT e.element_type, e.element_id FROM central_sequence.elements e
                    LEFT JOIN central_sequence.element_versions v ON v.element_pk = e.id
                    GROUP BY e.id HAVING e.version <> 1 + count(v.version)
                        OR coalesce(max(v.version), 1) <> e.version
                        OR coalesce(min(v.version), 2) <> 2
                    """
                )
            )
        ).all()
    assert broken == [], f"version numbers skipped or repeated for {broken[:5]}"
