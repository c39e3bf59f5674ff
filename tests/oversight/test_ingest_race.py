"""Ingest processes racing on one instrument: two batches of its readings stored at the same
moment give the sessions one batch would (its monitor row's lock orders the recomputations)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from oversight.ingest import Message, ingest
from tests.oversight.world import P, monitored_instrument, post_batch, sessions_of, workday


@pytest.mark.slow
async def test_two_batches_of_one_instrument_racing_give_the_sessions_of_one(backend, client, login):
    staff = await login(P)
    reference = await monitored_instrument(backend, client, staff, running_watts=100)
    await post_batch(client, workday(reference))
    expected = await sessions_of(client, staff, reference, "2026-11-02", "2026-11-02")
    for _ in range(5):
        m = await monitored_instrument(backend, client, staff, running_watts=100)
        messages = workday(m)

        async def store(part: list[bytes]) -> int:
            async with backend.runtime.session_maker() as session:
                result = await ingest(
                    session,
                    [Message(x) for x in part],
                    secret_key=backend.settings.secret_key,
                    future_skew=timedelta(minutes=5),
                    kept_months=13,
                )
                return result.accepted

        accepted = await asyncio.gather(store(messages[0::2]), store(messages[1::2]))
        assert sum(accepted) == len(messages)
        assert await sessions_of(client, staff, m, "2026-11-02", "2026-11-02") == expected
