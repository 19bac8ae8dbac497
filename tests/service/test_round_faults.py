"""The service's round writer under store faults (issue 9, item 12).

A round whose store write fails (before or after it persisted) answers each
of its requests with the store's typed error (SVC-07) and never with a
signature; the loop reports the failure on ``/health`` (``last_error``) and
closes the next round normally, in a later second, over every store kind.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.service.metrics import Metrics
from jura_trust.service.rounds import RoundLoop
from jura_trust.verify import verify_signature
from tests.backends.store_contract import PHASES, STORE_KINDS, Faults


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("name", sorted(STORE_KINDS))
def test_round_writer_answers_a_store_fault_with_svc_07_and_continues(
    name: str, phase: str, tmp_path: Path
) -> None:
    kind = STORE_KINDS[name](tmp_path)
    faults = Faults()
    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000), store=kind.open(faults))
    writer = ThreadPoolExecutor(1)
    metrics = Metrics()

    async def scenario() -> None:
        loop = RoundLoop(backend, round_ms=10, writer=writer, metrics=metrics)
        task = asyncio.create_task(loop.run())
        try:
            faults.arm(kind.points[-1], phase)
            failing, _ = loop.add(RoundRequest(Imprint.hash(b"refused")))
            with pytest.raises(BackendError) as info:
                await asyncio.wait_for(failing, 10)
            assert info.value.code is ErrorCode.SVC_STORE
            assert loop.last_error is not None
            assert metrics.round_failures == 1
            imprint = Imprint.hash(b"answered")
            future, index = loop.add(RoundRequest(imprint))
            closed = await asyncio.wait_for(future, 10)
            assert loop.last_error is None
            sig = closed.round.signature(index)
            pubfile = backend.trusted_publications_file()
            result = verify_signature(
                sig, policy="key", document_hash=imprint, publications_file=pubfile
            )
            assert result.outcome is Outcome.OK, result
            chain = backend.extend_calendar(sig.aggregation_time)
            assert chain.input_hash == sig.aggregation_root()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    try:
        asyncio.run(scenario())
    finally:
        writer.shutdown(wait=True)
        backend.close()
