"""Crash safety: SIGKILL the server at random moments under load, restart, check everything.

Every signature the server acknowledged must still verify (key-based) and
extend after the restarts, and the calendar must never rewrite history: the
right links of every chain handed out before a crash are those of the chain
to the new head (CAL-04 would catch a rewritten second).
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from jura_trust import pki
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.core.calendar import right_links_consistent
from jura_trust.core.chains import CalendarChain
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import JuraError, Outcome
from jura_trust.publications import VerifiedPublicationsFile
from jura_trust.verify import verify_signature
from tests.service.server import KEY, LOGIN, PUBLISHER_EMAIL, ServerProcess


class Load:
    """Client threads signing in a loop against whatever URL the server has now."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.errors: list[BaseException] = []
        self.acked: list[tuple[Imprint, bytes]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n: int) -> None:
        try:
            self._run(n)
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.errors.append(exc)

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        client: KsiHttpBackend | None = None
        url = ""
        while not self.stop.is_set():
            if url != self.url:
                if client is not None:
                    client.close()
                url = self.url
                client = KsiHttpBackend(
                    url + "/aggregator", login=LOGIN, key=KEY, timeout=3.0, retries=0
                )
            assert client is not None
            imprints = [Imprint.hash(rng.randbytes(16)) for _ in range(rng.randint(1, 25))]
            try:
                blobs = client.sign_many_encoded(imprints)
            except JuraError:
                time.sleep(0.05)  # the server is down: try again
                continue
            with self.lock:
                self.acked.extend(zip(imprints, blobs, strict=True))
        if client is not None:
            client.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_signature(tmp_path, long_run: bool):
    rng = random.Random(2024)
    kills = 10 if long_run else 3
    server = ServerProcess(tmp_path, "--round-ms", "1000", "--publish-schedule", "off").start()
    snapshots: list[CalendarChain] = []
    try:
        with Load(server.url, threads=4) as load:
            for _ in range(kills):
                time.sleep(rng.uniform(0.4, 1.6))
                with KsiHttpBackend(None, server.extender, login=LOGIN, key=KEY) as ext:
                    head = ext.extender_config().calendar_last_time
                    first = ext.extender_config().calendar_first_time
                    if head is not None and first is not None:
                        snapshots.append(ext.extend_calendar(first, head))
                time.sleep(rng.uniform(0.0, 0.5))
                server.kill()
                server = ServerProcess(
                    tmp_path, "--round-ms", "1000", "--publish-schedule", "off"
                ).start()
                load.url = server.url
            time.sleep(1.0)
        assert not load.errors, load.errors
        acked = list(load.acked)
        assert len(acked) > 50, f"too little load: {len(acked)} signatures"

        anchor = pki.load_certificate((tmp_path / "publisher-cert.pem").read_bytes())
        with KsiHttpBackend(
            server.aggregator,
            server.extender,
            server.publications,
            login=LOGIN,
            key=KEY,
            trust_anchors=[anchor],
            cert_constraints={"E": PUBLISHER_EMAIL},
        ) as client:
            # One more round, so the head is after every acknowledged second.
            client.sign(Imprint.hash(b"after the crashes"))
            pubfile = client.trusted_publications_file()
            head = client.extender_config().calendar_last_time
            assert head is not None
            seconds: dict[int, CalendarChain] = {}
            for imprint, blob in acked:
                sig = Signature.from_bytes(blob)
                assert sig.document_hash == imprint
                key_based = verify_signature(
                    sig, policy="key", document_hash=imprint, publications_file=pubfile
                )
                assert key_based.outcome is Outcome.OK, key_based
                t = sig.aggregation_time
                if t not in seconds:
                    seconds[t] = client.extend_calendar(t, head)
                assert sig.calendar_chain is not None
                # No rewritten history: the old chain's right links survive...
                assert right_links_consistent(sig.calendar_chain, seconds[t])
                # ...and the signature extends (the calendar policy asks the extender).
                by_calendar = verify_signature(
                    sig, policy="calendar", extender=client.extend_calendar
                )
                assert by_calendar.outcome is Outcome.OK, by_calendar
            for old in snapshots:
                new = client.extend_calendar(old.aggregation_time, head)
                assert right_links_consistent(old, new)
                assert new.input_hash == old.input_hash
            assert isinstance(pubfile, VerifiedPublicationsFile)
        assert server.stop() == 0  # SIGTERM: a graceful stop
    finally:
        server.stop()
