"""The high-level API re-exported by jura_trust, and the pytest plugin's fixtures."""

from __future__ import annotations

import pytest

import jura_trust
from jura_trust import (
    BackendError,
    EmbeddedBackend,
    ErrorCode,
    FormatError,
    HashAlgorithm,
    Imprint,
    JuraError,
    ManualClock,
    Outcome,
    PublicationData,
    Signature,
    VerificationError,
    decode_publication_string,
    hash_file,
    load_signature,
    save_signature,
    sign_bytes,
    sign_files,
    sign_imprint,
    verify,
)
from jura_trust.testing import START_TIME

T0 = 1_700_000_000
DOC = b"extract of the debt-collection register"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def backend(clock):
    b = EmbeddedBackend(clock=clock)
    yield b
    b.close()


def test_public_names_are_exported():
    for name in jura_trust.__all__:
        assert hasattr(jura_trust, name), name


def test_sign_bytes_round_trip(backend):
    sig = sign_bytes(backend, DOC)
    assert sig.document_hash == Imprint.hash(DOC)
    res = verify(sig, document=DOC, backend=backend)
    assert res.ok, res
    assert res.policy == "general"
    assert verify(sig, document=DOC, backend=backend, policy="key").ok
    bad = verify(sig, document=DOC + b" ", backend=backend)
    assert (bad.outcome, bad.code) == (Outcome.FAIL, ErrorCode.GEN_01)


def test_sign_bytes_with_another_algorithm(backend):
    sig = sign_bytes(backend, DOC, algorithm=HashAlgorithm.SHA3_256)
    assert sig.document_hash == Imprint.hash(DOC, HashAlgorithm.SHA3_256)
    # verify hashes the document with the signature's own algorithm
    assert verify(sig, document=DOC, backend=backend, policy="key").ok


def test_sign_files_is_one_round(backend, tmp_path):
    paths = []
    for i in range(4):
        p = tmp_path / f"doc{i}.txt"
        p.write_bytes(DOC + bytes([i]) * 1000)
        paths.append(p)
    seen: list[int] = []
    sigs = sign_files(backend, paths, progress=seen.append)
    assert sum(seen) == sum(p.stat().st_size for p in paths)
    assert {s.aggregation_time for s in sigs} == {T0}
    assert len({s.calendar_chain for s in sigs}) == 1
    assert backend.calendar_first == backend.calendar_head == T0
    for p, s in zip(paths, sigs, strict=True):
        assert s.document_hash == hash_file(p)
        assert verify(s, document=p.read_bytes(), backend=backend, policy="key").ok
    assert list(tmp_path.glob("*.ksig")) == []  # the API writes nothing itself


def test_sign_files_unreadable_is_format_error_before_signing(backend, tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes(DOC)
    with pytest.raises(FormatError) as info:
        sign_files(backend, [good, tmp_path / "missing.txt"])
    assert info.value.code is ErrorCode.FMT_IO
    assert backend.calendar_head is None


def test_sign_imprint_with_level(backend):
    root = Imprint.hash(b"root of a local tree")
    sig = sign_imprint(backend, root, level=3)
    assert verify(sig, document_hash=root, backend=backend, input_level=3, policy="key").ok
    res = verify(sig, document_hash=root, backend=backend, input_level=4, policy="key")
    assert res.code is ErrorCode.GEN_03


def test_verify_with_document_hash_and_not_both(backend):
    sig = sign_bytes(backend, DOC)
    assert verify(sig, document_hash=Imprint.hash(DOC), backend=backend).ok
    with pytest.raises(ValueError):
        verify(sig, document=DOC, document_hash=Imprint.hash(DOC), backend=backend)
    wrong_alg = verify(
        sig, document_hash=Imprint.hash(DOC, HashAlgorithm.SHA2_512), backend=backend
    )
    assert wrong_alg.outcome is Outcome.FAIL
    assert wrong_alg.code is ErrorCode.GEN_04


def test_verify_without_anything_to_trust_is_internal_only_or_na(backend):
    sig = sign_bytes(backend, DOC)
    assert verify(sig, document=DOC, policy="internal").ok
    res = verify(sig, document=DOC, policy="key")  # no publications file, no backend
    assert (res.outcome, res.code) == (Outcome.NA, ErrorCode.GEN_02)


def test_verify_with_publication_string_and_data(backend, clock):
    sig = sign_bytes(backend, DOC)
    clock.advance(30)
    sign_bytes(backend, b"later")
    backend.publish()
    text = backend.publication_string()
    extended = backend.extend(sig)
    for pub in (text, decode_publication_string(text)):
        res = verify(extended, document=DOC, publication=pub, policy="user-publication")
        assert res.ok, res
    # a publication that is not the one in the signature
    other = PublicationData.build(extended.publication_time, Imprint.hash(b"not the calendar root"))
    res = verify(extended, document=DOC, publication=other, policy="user-publication")
    assert (res.outcome, res.code) == (Outcome.FAIL, ErrorCode.PUB_04)
    with pytest.raises(FormatError) as info:
        verify(extended, publication="AAAAAA-NOT-A-PUBLICATION")
    assert info.value.code is ErrorCode.FMT_BAD_PUBLICATION_STRING


def test_verify_with_backend_extends_by_default(backend, clock):
    sig = sign_bytes(backend, DOC)
    clock.advance(30)
    sign_bytes(backend, b"later")
    backend.publish()
    res = verify(sig, document=DOC, backend=backend, policy="publications-file")
    assert res.ok, res
    assert any(step.rule == "extend_to_publication" for step in res.steps)
    res = verify(
        sig, document=DOC, backend=backend, policy="publications-file", extending_allowed=False
    )
    assert (res.outcome, res.code) == (Outcome.NA, ErrorCode.GEN_02)
    # an explicit publications file, no backend: the extended signature verifies offline
    pubfile = backend.trusted_publications_file()
    extended = backend.extend(sig)
    assert verify(extended, document=DOC, publications_file=pubfile).ok


def test_load_and_save_signature(backend, tmp_path):
    sig = sign_bytes(backend, DOC)
    target = save_signature(sig, tmp_path / "doc.ksig")
    assert target == tmp_path / "doc.ksig"
    assert target.read_bytes() == sig.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["doc.ksig"]  # no temporary left
    for source in (target, str(target), target.read_bytes()):
        loaded = load_signature(source)
        assert isinstance(loaded, Signature)
        assert loaded.encode() == sig.encode()
    assert verify(load_signature(target), document=DOC, backend=backend).ok


def test_load_signature_errors_are_typed(tmp_path):
    with pytest.raises(FormatError) as info:
        load_signature(tmp_path / "missing.ksig")
    assert info.value.code is ErrorCode.FMT_IO
    garbage = tmp_path / "garbage.ksig"
    garbage.write_bytes(b"\x08\x00\x00\x05hello")
    with pytest.raises(FormatError) as info:
        load_signature(garbage)
    assert info.value.code.family == "FMT"
    with pytest.raises(FormatError):
        load_signature(b"")


def test_errors_are_typed(backend):
    with pytest.raises(BackendError) as info:
        sign_bytes(backend, DOC, algorithm=HashAlgorithm.SHA1)
    assert info.value.code is ErrorCode.SVC_REFUSED
    assert isinstance(info.value, JuraError)
    assert info.value.diagnostics()["code"] == "SVC-05"

    sig = sign_bytes(backend, DOC)
    res = verify(sig, document=b"other", backend=backend)
    with pytest.raises(VerificationError) as vinfo:
        res.raise_for_outcome()
    assert vinfo.value.code is ErrorCode.GEN_01
    with pytest.raises(TypeError):
        bool(res)  # three outcomes: no truthiness
    assert verify(sig, document=DOC, backend=backend).raise_for_outcome().ok


# -- the pytest plugin -----------------------------------------------------------------


def test_receipt(ksi_backend, ksi_clock):
    # exactly the example of jura_trust.testing's docstring
    sig = ksi_backend.sign(Imprint.hash(b"document"))
    ksi_clock.advance(3600)
    ksi_backend.publish()
    extended = ksi_backend.extend(sig)
    assert verify(extended, document=b"document", backend=ksi_backend).ok


def test_plugin_fixtures_share_the_clock(ksi_backend, ksi_clock):
    assert isinstance(ksi_clock, ManualClock)
    assert ksi_clock.now() == START_TIME
    assert ksi_backend.home is None
    assert ksi_backend.sign(Imprint.hash(b"a")).aggregation_time == START_TIME
    ksi_clock.advance(90)
    assert ksi_backend.sign(Imprint.hash(b"b")).aggregation_time == START_TIME + 90
