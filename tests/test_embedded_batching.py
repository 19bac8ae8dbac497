"""Issue 11 item 2: concurrent sign() calls on the embedded backend share rounds by default."""

from __future__ import annotations

import threading

from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import Imprint


def test_embedded_backend_batches_concurrent_signers_by_default():
    # One round per calendar second: signing each call in its own round made
    # ten parallel uploads take ten seconds.
    backend = EmbeddedBackend()
    results: dict[int, object] = {}
    barrier = threading.Barrier(10)

    def upload(i: int) -> None:
        barrier.wait()
        results[i] = backend.sign(Imprint.hash(b"upload %d" % i))

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    backend.close()
    assert len(results) == 10
    seconds = {sig.aggregation_time for sig in results.values()}  # type: ignore[attr-defined]
    # Ten rounds (ten seconds) before; with group commit the calls share rounds.
    # How many depends on how the threads are scheduled on a loaded machine;
    # tests/backends/test_embedded.py pins the exact behaviour deterministically.
    assert len(seconds) < 10, seconds
