"""A child aggregator (``serve --parent URL --parent URL2``) signing through its parents.

The child's round roots go to a parent as level > 0 requests over PDU v2;
its clients' signatures are its own tree's chain plus the parent's chains,
calendar chain and calendar authentication record. The first parent is
SIGKILLed: the child fails over to the second and keeps signing. Both
parents are processes of one central service on PostgreSQL, so every
signature verifies against the one publications file.

Needs ``JURA_TRUST_TEST_PG`` (:mod:`tests.pg`): fails in CI without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.postgres import read_signing_certificates
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.verify import verify_signature
from tests.pg import drop_schema, new_schema_dsn
from tests.service.server import KEY, LOGIN, PUBLISHER_EMAIL, ServerProcess


@pytest.fixture
def dsn() -> Iterator[str]:
    dsn, schema = new_schema_dsn()
    yield dsn
    drop_schema(schema)


def _with_login(url: str) -> str:
    return url.replace("http://", f"http://{LOGIN}:{KEY}@", 1) + "/aggregator"


def _check(sigs, imprints, pubfile, parent_chains: int) -> None:  # type: ignore[no-untyped-def]
    for sig, imprint in zip(sigs, imprints, strict=True):
        # the child's own chain, then the parent's
        assert len(sig.aggregation_chains) >= 1 + parent_chains
        result = verify_signature(
            sig, policy="key", document_hash=imprint, publications_file=pubfile
        )
        assert result.outcome is Outcome.OK, result


@pytest.mark.slow
def test_child_aggregator_signs_through_a_parent_and_fails_over(dsn: str, tmp_path: Path) -> None:
    parents = [
        ServerProcess(tmp_path / f"central{i}", "--store", dsn, "--publish-schedule", "off")
        for i in range(2)
    ]
    child = ServerProcess(
        tmp_path / "department",
        "--parent",
        _with_login(parents[0].start(timeout=60).url),
        "--parent",
        _with_login(parents[1].start(timeout=60).url),
        "--publish-schedule",
        "off",
    )
    try:
        child.start(timeout=60)
        _, publisher_cert = read_signing_certificates(dsn)
        with KsiHttpBackend(
            child.aggregator,
            child.extender,
            child.publications,
            login=LOGIN,
            key=KEY,
            timeout=30,
            trust_anchors=[publisher_cert],
            cert_constraints={"E": PUBLISHER_EMAIL},
        ) as client:
            pubfile = client.trusted_publications_file()  # the parents' file, passed on
            imprints = [Imprint.hash(b"department doc %d" % i) for i in range(7)]
            sigs = client.sign_many(imprints)
            _check(sigs, imprints, pubfile, 1)
            # the parent goes away without a word; the second parent takes over
            parents[0].kill()
            more = [Imprint.hash(b"after the parent died %d" % i) for i in range(5)]
            sigs2 = client.sign_many(more)
            _check(sigs2, more, pubfile, 1)
            assert sigs2[0].aggregation_time > sigs[0].aggregation_time
            # the child extends through its parent too
            extended = client.extend_calendar(sigs[0].aggregation_time)
            assert extended.input_hash == sigs[0].aggregation_root()
            with urlopen(child.url + "/metrics", timeout=10) as response:
                metrics = response.read().decode()
            failovers = [
                line
                for line in metrics.splitlines()
                if line.startswith("jura_trust_parent_failovers")
            ]
            assert failovers and float(failovers[0].split()[1]) >= 1, metrics
            # no parent at all: the round is answered with an error, not a signature
            parents[1].kill()
            with pytest.raises(BackendError) as info:
                client.sign(Imprint.hash(b"nobody anchors this"))
            assert info.value.code is not ErrorCode.SVC_AUTH
    finally:
        child.stop()
        for p in parents:
            p.stop()
