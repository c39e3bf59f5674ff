"""The worker's liveness: its loop touches a heartbeat file, and ``yixiang worker
--check-heartbeat`` (the kubelet's exec probe) fails once the loop stops turning, as when a
consumer hangs, so a hung worker gets restarted instead of silently draining nothing."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from click.testing import CliRunner

from yixiang.cli import main
from yixiang.domains import Domain, JobContext
from yixiang.heartbeat import Heartbeat
from yixiang.outbox import Event, emit
from yixiang.worker import Worker

TOPIC = "test.heartbeat.hang"


def quick(backend):
    """The tests' settings with a loop that turns often, as the heartbeats below are short."""
    return msgspec.structs.replace(backend.settings, worker_poll_seconds=0.05)


def probe(path, *extra: str) -> tuple[int, str]:
    # The probe is a separate process in the pod: run it outside the tests' event loop.
    result = CliRunner().invoke(main, ["worker", "--check-heartbeat", "--heartbeat-file", str(path), *extra])
    return result.exit_code, result.output


async def test_a_hung_worker_loop_fails_its_liveness_probe(backend, tmp_path):
    hung = asyncio.Event()

    async def hang(ctx: JobContext, event: Event) -> None:
        hung.set()
        await asyncio.Event().wait()  # a consumer that never returns

    worker = Worker(
        backend.runtime.session_maker,
        [Domain(name="test-heartbeat", consumers={TOPIC: [hang]})],
        settings=quick(backend),
        only_topics={TOPIC},
    )
    path = tmp_path / "worker.heartbeat"
    worker.heartbeat = Heartbeat(path, stale_after=0.5, every=0.05)
    assert (await asyncio.to_thread(probe, path))[0] == 1  # no loop yet: not alive

    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)
        code, output = await asyncio.to_thread(probe, path)
        assert code == 0, output  # an idle loop turning every poll is alive

        async with backend.runtime.session_maker() as session, session.begin():
            await emit(session, TOPIC, {})
        await asyncio.wait_for(hung.wait(), timeout=10)
        await asyncio.sleep(0.8)
        code, output = await asyncio.to_thread(probe, path)
        assert code == 1
        assert "stuck" in output
        # The probe's own limit, when given, wins over the one the worker wrote.
        assert (await asyncio.to_thread(probe, path, "--max-age", "3600"))[0] == 0
    finally:
        stop.set()
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_the_heartbeat_goes_stale_when_the_loop_stops(backend, tmp_path):
    worker = Worker(backend.runtime.session_maker, [], settings=quick(backend), only_topics={TOPIC})
    path = tmp_path / "worker.heartbeat"
    worker.heartbeat = Heartbeat(path, stale_after=0.5, every=0.05)
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.2)
    assert (await asyncio.to_thread(probe, path))[0] == 0
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    await asyncio.sleep(0.7)
    code, output = await asyncio.to_thread(probe, path)
    assert code == 1 and "stuck" in output
