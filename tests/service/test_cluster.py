"""Several ``serve`` processes on one PostgreSQL database; the calendar writer SIGKILLed under load.

Issue 13: any number of processes share one DSN; exactly one holds the
writer lease, the others hand their round roots to it. The writer is killed
(SIGKILL, no cleanup) several times while clients sign on every process;
another process must take the lease within 10 s, and afterwards:

* every acknowledged signature verifies key-based, and again after a
  publication, extended to it;
* no second holds two roots (every signature of a second computes the
  calendar leaf stored there);
* the calendar's right links never change (the chains handed out before a
  crash agree with the chains to the final head).

Needs ``JURA_TRUST_TEST_PG`` (:mod:`tests.pg`): fails in CI without it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import psycopg
import pytest

from jura_trust import pki
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.backends.parts import StoreExtender
from jura_trust.backends.postgres import PostgresCalendarStore, read_signing_certificates
from jura_trust.core.calendar import right_links_consistent
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.publications import PublicationsFile
from jura_trust.service.config import ServiceConfig
from jura_trust.service.deploy import cluster_parts
from jura_trust.verify import verify_signature
from tests.pg import drop_schema, new_schema_dsn
from tests.service.server import KEY, LOGIN, PUBLISHER_EMAIL, ServerProcess
from tests.service.test_crash import Load

#: The issue's bound on taking over the lease after the writer died.
FAILOVER_BOUND = 10.0


@pytest.fixture
def dsn() -> Iterator[str]:
    dsn, schema = new_schema_dsn()
    yield dsn
    drop_schema(schema)


def _lease(dsn: str) -> tuple[str, int]:
    with psycopg.connect(dsn) as conn:
        holder, token = conn.execute("SELECT holder, token FROM writer_lease").fetchone()
    return str(holder), int(token)


def _wait_for_writer(dsn: str, servers: list[ServerProcess], old_token: int) -> tuple[int, float]:
    """Index of the process holding a lease newer than ``old_token``, and how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < 3 * FAILOVER_BOUND:
        holder, token = _lease(dsn)
        if token > old_token:
            pids = [s.proc.pid if s.proc is not None else -1 for s in servers]
            pid = int(holder.rsplit(":", 1)[1])
            if pid in pids:
                return pids.index(pid), time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("no process took the writer lease")


def _start(home: Path, dsn: str) -> ServerProcess:
    return ServerProcess(home, "--store", dsn, "--publish-schedule", "off").start(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_writer_sigkilled_under_load_loses_nothing_and_never_forks(
    processes: int, dsn: str, tmp_path: Path, long_run: bool
) -> None:
    rng = random.Random(processes)
    kills = 6 if long_run else 3
    homes = [tmp_path / f"node{i}" for i in range(processes)]
    servers = [_start(home, dsn) for home in homes]
    loads = [Load(s.url, threads=2) for s in servers]
    failovers: list[float] = []
    _, token = _lease(dsn)
    try:
        for load in loads:
            load.__enter__()
        for _ in range(kills):
            time.sleep(rng.uniform(1.0, 2.5))
            writer, _ = _wait_for_writer(dsn, servers, token - 1)
            _, token = _lease(dsn)
            servers[writer].kill()
            _, took = _wait_for_writer(dsn, servers, token)
            failovers.append(took)
            servers[writer] = _start(homes[writer], dsn)
            loads[writer].url = servers[writer].url
            _, token = _lease(dsn)
        time.sleep(1.5)
    finally:
        for load in loads:
            load.__exit__()
        for s in servers:
            s.stop()
    for load in loads:
        assert not load.errors, load.errors
    acked = [item for load in loads for item in load.acked]
    per_process = [len(load.acked) for load in loads]
    assert all(n > 0 for n in per_process), per_process
    assert max(failovers) < FAILOVER_BOUND, failovers

    # Check everything from the database, as an auditor would.
    calendar_cert, publisher_cert = read_signing_certificates(dsn)
    config = ServiceConfig(home=tmp_path / "auditor", store_dsn=dsn, store_engine="postgresql")
    backend = EmbeddedBackend(
        tmp_path / "auditor",
        parts=cluster_parts(config, None, None),
        publisher_email=PUBLISHER_EMAIL,
    )
    try:
        deadline = time.monotonic() + 3 * FAILOVER_BOUND
        while not backend.calendar.local and time.monotonic() < deadline:
            time.sleep(0.2)  # the killed writer's lease runs out
        backend.sign(Imprint.hash(b"after the crashes"))
        record = backend.publish()
        parsed = PublicationsFile.parse(backend.publications_file_bytes)
        assert pki.certificate_id(calendar_cert) in {c.certificate_id for c in parsed.certificates}
        pubfile = parsed.trusted(trust_anchors=[publisher_cert], constraints={"E": PUBLISHER_EMAIL})
        head = record.publication_time
        roots: dict[int, Imprint] = {}
        for imprint, blob in acked:
            sig = Signature.from_bytes(blob)
            assert sig.document_hash == imprint
            key_based = verify_signature(
                sig, policy="key", document_hash=imprint, publications_file=pubfile
            )
            assert key_based.outcome is Outcome.OK, key_based
            # one root per second: every signature of a second reaches the same leaf
            second = sig.aggregation_time
            assert roots.setdefault(second, sig.aggregation_root()) == sig.aggregation_root()
            chain = backend.extend_calendar(second, head)
            assert chain.input_hash == sig.aggregation_root()
            assert sig.calendar_chain is not None
            assert right_links_consistent(sig.calendar_chain, chain)
            extended = backend.extend(sig)
            published = verify_signature(
                extended,
                policy="publications-file",
                document_hash=imprint,
                publications_file=pubfile,
            )
            assert published.outcome is Outcome.OK, published
        with PostgresCalendarStore(dsn, read_only=True) as store:
            extender = StoreExtender(store)
            for second, root in roots.items():
                assert extender.extend_calendar(second, second).input_hash == root
    finally:
        backend.close()
    assert len(roots) >= kills  # rounds of many seconds were checked
    print(f"{processes} processes: {len(acked)} signatures, failovers {failovers}")


def test_extender_on_a_replica_extends_and_serves_the_file_but_signs_nothing(
    dsn: str, tmp_path: Path
) -> None:
    writer = _start(tmp_path / "central", dsn)
    # the replica: a read-only session on the same data
    replica = ServerProcess(tmp_path / "replica", "--read-store", dsn).start(timeout=60)
    try:
        with (
            KsiHttpBackend(writer.aggregator, login=LOGIN, key=KEY, timeout=30) as central,
            KsiHttpBackend(
                replica.aggregator, replica.extender, replica.publications, login=LOGIN, key=KEY
            ) as reader,
        ):
            sig = central.sign(Imprint.hash(b"signed centrally"))
            deadline = time.monotonic() + 10
            while (reader.extender_config().calendar_last_time or 0) < sig.aggregation_time:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            chain = reader.extend_calendar(sig.aggregation_time)
            assert chain.input_hash == sig.aggregation_root()
            with urlopen(writer.publications, timeout=10) as response:
                assert reader.publications_file_bytes() == response.read()
            with pytest.raises(BackendError) as info:
                reader.sign(Imprint.hash(b"not here"))
            assert info.value.code is ErrorCode.SVC_REFUSED
    finally:
        replica.stop()
        writer.stop()
