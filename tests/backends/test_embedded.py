"""EmbeddedBackend: rounds, calendar seconds, persistence, extending, publishing, trust."""

from __future__ import annotations

import stat
import threading
import time

import pytest

from jura_trust import pki
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import DEFAULT_CLIENT_ID, PUBLISHER_EMAIL, EmbeddedBackend
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.publication import (
    PublicationData,
    decode_publication_string,
    encode_publication_string,
)
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, JuraError, Outcome, PKIError
from jura_trust.publications import PublicationsFile
from jura_trust.verify import verify_signature

T0 = 1_700_000_000
DOC = b"Extrait du registre des poursuites: aucune poursuite en cours."


def imp(i: int) -> Imprint:
    return Imprint.hash(b"request %d" % i)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def backend(clock: ManualClock):
    b = EmbeddedBackend(clock=clock)
    yield b
    b.close()


def key_verify(sig: Signature, b: EmbeddedBackend, **kw):
    return verify_signature(
        sig, policy="key", publications_file=b.trusted_publications_file(), **kw
    )


# -- state: memory and home directory ------------------------------------------------


def test_in_memory_backend_writes_no_files(tmp_path, monkeypatch, clock):
    monkeypatch.chdir(tmp_path)
    with EmbeddedBackend(clock=clock) as b:
        assert b.home is None
        sig = b.sign(imp(1))
        b.publish()
        assert key_verify(sig, b).ok
    assert list(tmp_path.iterdir()) == []


def test_home_state_survives_close_and_reopen(tmp_path, clock):
    home = tmp_path / "state"
    with EmbeddedBackend(home, clock=clock) as b1:
        sig = b1.sign(Imprint.hash(DOC))
        first_pub = b1.publish()
        cal_cert = pki.certificate_der(b1.calendar_certificate)
        pub_cert = pki.certificate_der(b1.publisher_certificate)
        pubfile_bytes = b1.publications_file_bytes
        head = b1.calendar_head
    assert {p.name for p in home.iterdir()} >= {
        "calendar.sqlite",
        "calendar-key.pem",
        "calendar-cert.pem",
        "publisher-key.pem",
        "publisher-cert.pem",
        "publications.bin",
    }
    for key in ("calendar-key.pem", "publisher-key.pem"):
        assert stat.S_IMODE((home / key).stat().st_mode) == 0o600

    clock.advance(60)
    with EmbeddedBackend(home, clock=clock) as b2:
        # calendar, keys and publications file are the same ones
        assert b2.calendar_head == head
        assert pki.certificate_der(b2.calendar_certificate) == cal_cert
        assert pki.certificate_der(b2.publisher_certificate) == pub_cert
        assert b2.publications_file_bytes == pubfile_bytes
        assert b2.latest_publication() == first_pub
        # the old signature verifies with the reopened backend's trust material
        res = verify_signature(
            sig,
            policy="key",
            document_hash=Imprint.hash(DOC),
            publications_file=b2.trusted_publications_file(),
        )
        assert res.ok, res
        # the calendar keeps growing after the old second, then a later publication
        later = b2.sign(imp(2))
        assert later.aggregation_time == T0 + 60
        second_pub = b2.publish()
        assert second_pub.publication_time == T0 + 60

    with EmbeddedBackend(home, clock=clock) as b3:
        assert [p.publication_time for p in b3.publications_file().publications] == [T0, T0 + 60]
        extended = b3.extend(sig, T0 + 60)
        res = verify_signature(
            extended,
            policy="publications-file",
            document_hash=Imprint.hash(DOC),
            publications_file=b3.trusted_publications_file(),
        )
        assert res.ok, res
        assert extended.publication_record.published_hash == second_pub.published_hash


# -- rounds and calendar seconds -----------------------------------------------------


def test_sign_many_is_one_round(backend):
    receipt = backend.sign_round([imp(i) for i in range(7)])
    sigs = receipt.signatures
    assert len(sigs) == 7
    assert {s.aggregation_time for s in sigs} == {T0}
    assert len({s.calendar_chain for s in sigs}) == 1
    assert {s.calendar_chain.input_hash for s in sigs} == {receipt.root}
    assert backend.calendar_first == backend.calendar_head == T0
    # every leaf is its own: distinct chain positions, each document verifies
    assert len({s.aggregation_chains[0].chain_index for s in sigs}) == 7
    for i, s in enumerate(sigs):
        assert s.document_hash == imp(i)
        assert key_verify(s, backend, document_hash=imp(i)).ok


def test_successive_rounds_in_one_second_take_the_next_seconds(backend, clock):
    a = backend.sign(imp(1))
    b = backend.sign(imp(2))
    c = backend.sign_many([imp(3), imp(4)])
    assert [a.aggregation_time, b.aggregation_time, c[0].aggregation_time] == [T0, T0 + 1, T0 + 2]
    assert clock.now() == T0 + 2  # the manual clock was made to wait, not overtaken
    # the first second was not rewritten: its chain still starts from round a's root
    assert backend.extend_calendar(T0, T0).input_hash == a.calendar_chain.input_hash
    assert backend.extend_calendar(T0, T0 + 2).input_hash == a.calendar_chain.input_hash
    for s, i in ((a, 1), (b, 2), (c[1], 4)):
        assert key_verify(s, backend, document_hash=imp(i)).ok


def test_clock_behind_the_calendar_never_rewrites_a_second(tmp_path):
    home = tmp_path / "home"
    with EmbeddedBackend(home, clock=ManualClock(T0 + 100)) as b:
        old = b.sign(imp(1))
    # reopened with a clock that is behind the calendar head
    late_clock = ManualClock(T0)
    with EmbeddedBackend(home, clock=late_clock) as b:
        new = b.sign(imp(2))
        assert new.aggregation_time == T0 + 101
        assert b.extend_calendar(T0 + 100, T0 + 100).input_hash == old.calendar_chain.input_hash
        assert key_verify(old, b).ok
        assert key_verify(new, b).ok


class _FixedTimeRealSleep:
    """Time stands still (one calendar second), but sleep really waits."""

    def now(self) -> float:
        return float(T0)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_round_ms_batches_concurrent_sign_calls(tmp_path):
    backend = EmbeddedBackend(clock=_FixedTimeRealSleep(), round_ms=400)
    n = 8
    barrier = threading.Barrier(n)
    results: dict[int, Signature] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = backend.sign(imp(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(results) == n
    sigs = list(results.values())
    assert {s.aggregation_time for s in sigs} == {T0}
    assert len({s.calendar_chain.input_hash for s in sigs}) == 1
    assert backend.calendar_first == backend.calendar_head == T0  # one round only
    pubfile = backend.trusted_publications_file()
    for i, s in results.items():
        assert s.document_hash == imp(i)
        res = verify_signature(s, policy="key", document_hash=imp(i), publications_file=pubfile)
        assert res.ok
    backend.close()


def test_without_round_ms_calls_queued_during_a_round_share_the_next(backend, monkeypatch):
    """Group commit: calls that arrive while a round closes are signed together next."""
    n = 4
    results: list[Signature] = []
    lock = threading.Lock()
    first_round = threading.Event()
    release = threading.Event()
    real = backend.close_round

    def slow_first(pending, **kw):  # the first round waits until the others have queued
        if not first_round.is_set():
            first_round.set()
            assert release.wait(10)
        return real(pending, **kw)

    monkeypatch.setattr(backend, "close_round", slow_first)

    def worker(i: int) -> None:
        s = backend.sign(imp(i))
        with lock:
            results.append(s)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    threads[0].start()
    assert first_round.wait(10)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while backend._batcher.pending < n - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for t in threads:
        t.join(10)
    times = sorted(s.aggregation_time for s in results)
    assert times == [T0] + [T0 + 1] * (n - 1)  # the first alone, the queued ones together
    # sequential calls still get one round each
    later = [backend.sign(imp(10 + k)).aggregation_time for k in range(2)]
    assert later == [T0 + 2, T0 + 3]


# -- requests -------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 5, 40])
def test_request_level(backend, level):
    root = imp(level)
    sig = backend.sign(root, level=level)
    ok = key_verify(sig, backend, document_hash=root, input_level=level)
    assert ok.ok, ok
    too_high = key_verify(sig, backend, document_hash=root, input_level=level + 1)
    assert too_high.outcome is Outcome.FAIL
    assert too_high.code is ErrorCode.GEN_03


@pytest.mark.parametrize("level", [-1, 0xFF - 1, 0xFF])
def test_request_level_out_of_range_is_refused(backend, level):
    with pytest.raises(ValueError):
        backend.sign(imp(1), level=level)
    assert backend.calendar_head is None


def test_sha1_refused_and_nothing_stored(backend):
    sha1 = Imprint.hash(b"old", HashAlgorithm.SHA1)
    with pytest.raises(BackendError) as info:
        backend.sign(sha1)
    assert info.value.code is ErrorCode.SVC_REFUSED
    with pytest.raises(BackendError):
        backend.sign_many([imp(1), sha1])  # validated before anything is stored
    assert backend.calendar_head is None
    with pytest.raises(ValueError):
        EmbeddedBackend(algorithm=HashAlgorithm.SHA1)


def test_sha3_256_accepted(backend):
    doc_hash = Imprint.hash(DOC, HashAlgorithm.SHA3_256)
    sig = backend.sign(doc_hash)
    assert sig.document_hash.algorithm is HashAlgorithm.SHA3_256
    assert key_verify(sig, backend, document_hash=doc_hash).ok
    wrong = key_verify(sig, backend, document_hash=Imprint.hash(DOC + b"!", HashAlgorithm.SHA3_256))
    assert wrong.code is ErrorCode.GEN_01


def test_issuer_is_the_client_id(clock):
    with EmbeddedBackend(clock=clock, client_id="guichet-virtuel.jura.ch") as b:
        sig = b.sign(imp(1))
        assert sig.issuer == ("guichet-virtuel.jura.ch",)
        meta = sig.aggregation_chains[0].links[0].metadata
        assert meta is not None and meta.client_id == "guichet-virtuel.jura.ch"
    with EmbeddedBackend(clock=clock) as b:
        assert b.sign(imp(1)).issuer == (DEFAULT_CLIENT_ID,)


# -- extending and publishing -----------------------------------------------------------


def _rounds(b: EmbeddedBackend, clock: ManualClock, *offsets: int) -> dict[int, Signature]:
    out = {}
    for off in offsets:
        clock.set(T0 + off)
        out[off] = b.sign(imp(off))
    return out


def test_extend_before_any_publication_is_svc_09(backend):
    sig = backend.sign(imp(1))
    with pytest.raises(BackendError) as info:
        backend.extend(sig)
    assert info.value.code is ErrorCode.SVC_NO_PUBLICATION


def test_extend_to_nearest_given_and_non_publication_second(backend, clock):
    sigs = _rounds(backend, clock, 0, 10, 20, 30)
    p10 = backend.publish(T0 + 10)
    p30 = backend.publish(T0 + 30)
    sig = sigs[0]

    nearest = backend.extend(sig)
    assert nearest.publication_record.publication_time == T0 + 10
    assert nearest.publication_record.published_hash == p10.published_hash
    assert nearest.calendar_auth_record is None

    given = backend.extend(sig, T0 + 30)
    assert given.publication_time == T0 + 30
    assert given.publication_record.published_hash == p30.published_hash

    pubfile = backend.trusted_publications_file()
    for ext in (nearest, given):
        res = verify_signature(
            ext, policy="publications-file", document_hash=imp(0), publications_file=pubfile
        )
        assert res.ok, res

    # a calendar second that is not a publication: the record holds the root there
    odd = backend.extend(sig, T0 + 20)
    assert odd.publication_time == T0 + 20
    root20 = backend.extend_calendar(T0, T0 + 20).root()
    assert odd.publication_record.published_hash == root20
    user = encode_publication_string(PublicationData.build(T0 + 20, root20))
    res = verify_signature(
        odd,
        policy="user-publication",
        document_hash=imp(0),
        user_publication=decode_publication_string(user),
    )
    assert res.ok, res
    # the file has no publication at that second: inconclusive, not OK
    res = verify_signature(odd, policy="publications-file", publications_file=pubfile)
    assert res.outcome is Outcome.NA

    with pytest.raises(BackendError) as info:
        backend.extend(sig, T0 + 31)  # after the calendar head
    assert info.value.code is ErrorCode.SVC_EXTEND


def test_publish_is_idempotent_for_a_second(backend, clock):
    _rounds(backend, clock, 0, 5)
    rec = backend.publish()
    before = backend.publications_file_bytes
    clock.advance(100)
    assert backend.publish(T0 + 5) == rec
    assert backend.publications_file_bytes == before  # not re-signed, no duplicate
    assert len(backend.publications_file().publications) == 1


def test_publish_refusals(backend):
    with pytest.raises(BackendError) as info:
        backend.publish()
    assert info.value.code is ErrorCode.SVC_NO_PUBLICATION
    with pytest.raises(BackendError) as info:
        backend.publication_string()
    assert info.value.code is ErrorCode.SVC_NO_PUBLICATION
    backend.sign(imp(1))
    with pytest.raises(BackendError) as info:
        backend.publish(T0 + 1)
    assert info.value.code is ErrorCode.SVC_NO_PUBLICATION


def test_publication_string_decodes_to_the_latest_publication(backend, clock):
    _rounds(backend, clock, 0, 7, 9)
    backend.publish(T0 + 7)
    latest = backend.publish(T0 + 9)
    data = decode_publication_string(backend.publication_string())
    assert backend.latest_publication() == latest
    assert data.publication_time == T0 + 9
    assert data.published_hash == latest.published_hash
    assert data.published_hash == backend.extend_calendar(T0, T0 + 9).root()


def test_publications_file_trust(backend, clock):
    _rounds(backend, clock, 0)
    backend.publish()
    pf = PublicationsFile.parse(backend.publications_file_bytes)
    pf.verify([backend.publisher_certificate], {"E": PUBLISHER_EMAIL}, T0)
    pf.verify(
        [backend.publisher_certificate], {"1.2.840.113549.1.9.1": backend.publisher_email}, T0
    )
    with pytest.raises(PKIError) as info:
        pf.verify([backend.publisher_certificate], {"E": "publications@guardtime.com"}, T0)
    assert info.value.code is ErrorCode.PKI_CONSTRAINT
    with pytest.raises(PKIError) as info:
        pf.verify([backend.calendar_certificate], {"E": PUBLISHER_EMAIL}, T0)
    assert info.value.code is ErrorCode.PKI_UNTRUSTED
    # the calendar certificate is in the file under the id the auth records name
    sig = backend.sign(imp(1))
    cert = pf.find_certificate(sig.calendar_auth_record.signature_data.certificate_id)
    assert cert is not None
    assert pki.certificate_der(cert) == pki.certificate_der(backend.calendar_certificate)


def test_calendar_right_links_do_not_change_as_the_calendar_grows(backend, clock):
    sigs = _rounds(backend, clock, 0, 3, 4, 9)
    head1 = backend.calendar_head
    c1 = backend.extend_calendar(T0 + 3, head1)
    _rounds(backend, clock, 40, 1000, 5000)
    head2 = backend.calendar_head
    c2 = backend.extend_calendar(T0 + 3, head2)
    assert head2 > head1
    assert c1.right_siblings() == c2.right_siblings() == sigs[3].calendar_chain.right_siblings()
    assert c1.right_siblings()  # not vacuous: the second has older neighbours
    assert c1.root() != c2.root()
    assert c1.input_hash == c2.input_hash == sigs[3].calendar_chain.input_hash
    # the calendar policy compares exactly those links
    res = verify_signature(sigs[3], policy="calendar", extender=backend.extend_calendar)
    assert res.ok, res


# -- tampering ------------------------------------------------------------------------------


def test_any_altered_document_byte_gives_gen_01(backend):
    sig = backend.sign(Imprint.hash(DOC))
    pubfile = backend.trusted_publications_file()
    for pos in range(len(DOC)):
        for mask in (0x01, 0x80):
            doc = bytearray(DOC)
            doc[pos] ^= mask
            res = verify_signature(
                sig, policy="key", document_hash=Imprint.hash(bytes(doc)), publications_file=pubfile
            )
            assert res.outcome is Outcome.FAIL and res.code is ErrorCode.GEN_01, pos
    assert key_verify(sig, backend, document_hash=Imprint.hash(DOC)).ok


def _tamper_outcomes(data: bytes, check) -> tuple[list[int], int]:
    ok_positions = []
    rejected = 0
    for pos in range(len(data)):
        for mask in (0x01, 0xFF):
            altered = bytearray(data)
            altered[pos] ^= mask
            try:
                sig = Signature.from_bytes(bytes(altered))
            except JuraError:
                rejected += 1
                continue
            if check(sig).ok:
                ok_positions.append(pos)
    return ok_positions, rejected


def test_altered_signature_bytes_never_verify(backend, clock):
    sig = backend.sign_many([Imprint.hash(DOC), imp(1), imp(2)])[0]
    pubfile = backend.trusted_publications_file()

    def key_check(s):
        return verify_signature(
            s, policy="key", document_hash=Imprint.hash(DOC), publications_file=pubfile
        )

    assert key_check(sig).ok
    ok_positions, rejected = _tamper_outcomes(sig.encode(), key_check)
    assert ok_positions == []
    assert rejected > 0

    clock.advance(10)
    backend.sign(imp(3))
    backend.publish()
    extended = backend.extend(sig)
    pubfile = backend.trusted_publications_file()

    def pub_check(s):
        return verify_signature(
            s,
            policy="publications-file",
            document_hash=Imprint.hash(DOC),
            publications_file=pubfile,
        )

    assert pub_check(extended).ok
    data = extended.encode()
    ok_positions, _ = _tamper_outcomes(data, pub_check)
    # Only the publication reference (a human hint that KSI covers by no hash or
    # signature, see docs) may change without consequence.
    (ref,) = extended.publication_record.references
    start = data.index(ref.encode())
    assert all(start <= p < start + len(ref) for p in ok_positions), ok_positions


def test_publications_only_move_forward():
    from jura_trust.errors import BackendError, ErrorCode

    clock = ManualClock(1_700_000_000)
    with EmbeddedBackend(clock=clock) as b:
        b.sign(Imprint.hash(b"a"))
        clock.advance(100)
        b.sign(Imprint.hash(b"b"))
        latest = b.publish()
        with pytest.raises(BackendError) as err:
            b.publish(latest.publication_time - 50)
        assert err.value.code is ErrorCode.SVC_REFUSED
        with pytest.raises(BackendError) as err:
            b.publish(1)  # 1970: before the calendar's first round
        assert err.value.code is ErrorCode.SVC_REFUSED
        assert b.publish(latest.publication_time) == latest


def test_calendar_key_rotation_keeps_old_signatures_verifiable(tmp_path):
    from jura_trust.verify import verify_signature

    clock = ManualClock(1_700_000_000)
    home = tmp_path / "home"
    with EmbeddedBackend(home, clock=clock) as b:
        old = b.sign(Imprint.hash(b"before rotation"))
    clock.advance(10)
    new_signer = pki.CalendarSigner.generate(
        common_name="calendar-2", not_before=1_699_000_000, not_after=1_900_000_000
    )
    with EmbeddedBackend(home, clock=clock, calendar_signer=new_signer) as b:
        new = b.sign(Imprint.hash(b"after rotation"))
        pubfile = b.trusted_publications_file()
        assert new.calendar_auth_record.signature_data.certificate_id == new_signer.certificate_id
        for sig in (old, new):
            assert verify_signature(sig, policy="key", publications_file=pubfile).ok
