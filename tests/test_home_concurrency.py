"""Many ``jura-trust sign`` processes on one home (issue 9, items 7 and 8).

Each test starts real processes at once. Every process must exit 0, and every
signature written must verify key-based against the home's publications
file, signed by the one calendar key the home ever had: two processes that
each minted a calendar key on a fresh home (a signature that can never
verify, PKI-03 or NA), or that refused a busy second (SVC-07), are the
defects these tests catch.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jura_trust import pki
from jura_trust.api import load_signature
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import Imprint
from jura_trust.errors import Outcome
from jura_trust.publications import PublicationsFile
from jura_trust.verify import verify_signature
from tests.budget import LONG

#: Processes started together per trial.
PROCESSES = 8
#: Trials on a fresh home (each a new home): bounded in CI, more when long.
FIRST_USE_TRIALS = 12 if LONG else 2
#: A bound on one trial, so a hang fails instead of blocking CI.
TRIAL_TIMEOUT = 180.0


def _start_signers(home: Path, docs: list[Path]) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "jura_trust.cli", "sign", str(doc), "--home", str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for doc in docs
    ]


def _wait_all(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    deadline = time.monotonic() + TRIAL_TIMEOUT
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("a signing process did not finish in time")
        results.append((proc.returncode, out + err))
    return results


def _docs(directory: Path, n: int, tag: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    docs = []
    for i in range(n):
        doc = directory / f"{tag}-{i}.txt"
        doc.write_bytes(f"{tag} document {i}\n".encode())
        docs.append(doc)
    return docs


def _check_every_signature(home: Path, docs: list[Path]) -> set[int]:
    """Every doc's signature verifies key-based; return the seconds they took."""
    calendar_cert = pki.load_certificate((home / "calendar-cert.pem").read_bytes())
    pubfile = PublicationsFile.parse((home / "publications.bin").read_bytes())
    # one calendar key, ever: the file carries exactly the home's certificate
    assert [r.certificate_id for r in pubfile.certificates] == [pki.certificate_id(calendar_cert)]
    with EmbeddedBackend(home, create=False) as backend:
        trusted = backend.trusted_publications_file()
    seconds = set()
    for doc in docs:
        sig = load_signature(f"{doc}.ksig")
        result = verify_signature(
            sig,
            policy="key",
            document_hash=Imprint.hash(doc.read_bytes()),
            publications_file=trusted,
        )
        assert result.outcome is Outcome.OK, (doc, result)
        assert sig.calendar_auth_record is not None
        cert_id = sig.calendar_auth_record.signature_data.certificate_id
        assert cert_id == pki.certificate_id(calendar_cert)
        seconds.add(sig.aggregation_time)
    return seconds


@pytest.mark.slow
def test_concurrent_first_use_of_a_home_loses_no_acknowledgement(tmp_path):
    """Item 7: N processes sign on a fresh home; every exit-0 signature verifies."""
    for trial in range(FIRST_USE_TRIALS):
        home = tmp_path / f"home-{trial}"
        docs = _docs(tmp_path / f"docs-{trial}", PROCESSES, f"t{trial}")
        results = _wait_all(_start_signers(home, docs))
        for rc, output in results:
            assert rc == 0, output
        key_digest = hashlib.sha256((home / "calendar-key.pem").read_bytes()).digest()
        seconds = _check_every_signature(home, docs)
        assert len(seconds) == PROCESSES  # one round, one second per process
        # and the home's key never changed under them
        assert hashlib.sha256((home / "calendar-key.pem").read_bytes()).digest() == key_digest


@pytest.mark.slow
def test_parallel_signing_on_an_existing_home_all_succeed(tmp_path):
    """Item 8: N processes sign at once on a used home: all exit 0 (no SVC-07), all verify."""
    home = tmp_path / "home"
    first = _docs(tmp_path / "first", 1, "first")
    assert _wait_all(_start_signers(home, first))[0][0] == 0
    docs = _docs(tmp_path / "docs", PROCESSES, "parallel")
    results = _wait_all(_start_signers(home, docs))
    failures = [output for rc, output in results if rc != 0]
    assert not failures, failures
    seconds = _check_every_signature(home, first + docs)
    assert len(seconds) == PROCESSES + 1  # they queued for the next free seconds
