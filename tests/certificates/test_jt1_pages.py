"""JT1 envelope version 2: the page level of large batches, the preset dictionary,
version 1 texts, and the seal cache."""

from __future__ import annotations

import hashlib
import zlib
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust._value import evolve
from jura_trust.certificates.envelope import (
    MAX_PAYLOAD_SIZE,
    compress,
    decode_envelope,
    decompress,
    dictionary_id,
    encode_envelope,
    uses_dictionary,
)
from jura_trust.certificates.jt1 import (
    ENVELOPE_VERSION,
    PAGE_SIZE,
    ZDICT_V2,
    ZDICT_V2_ID,
    ZDICT_V2_SHA256,
    Batch,
    PageRecord,
    SealCache,
    decode_certificate,
    issue_batch,
    page_record_id,
    verify_certificate,
)
from jura_trust.certificates.registry import MemorySealRegistry
from jura_trust.core.calendar import filler_root
from jura_trust.core.signature import Signature
from jura_trust.errors import CertificateError, ErrorCode
from jura_trust.verify.result import VerificationResult
from tests.budget import scaled
from tests.certificates import keys
from tests.certificates.jt1_helpers import (
    ISSUER,
    LATER,
    NOW,
    backend,
    document,
    envelope_item,
    issuer_key,
    rebuild,
    trust_list,
)


def issue(n: int, *, page_size: int = 4, **kw: Any) -> Batch:
    docs = [document(fields={"extrait": f"2024-{i:06d}"}) for i in range(n)]
    return issue_batch(
        docs,
        issuer_id=ISSUER,
        private_key=kw.pop("key", None) or keys.p256(),
        ksi=backend(),
        issued_at=kw.pop("issued_at_override", NOW),
        page_size=page_size,
        **kw,
    )


def registry(*batches: Batch, skip: set[bytes] | None = None) -> MemorySealRegistry:
    reg = MemorySealRegistry()
    for b in batches:
        for record_id, data in b.registry_records():
            if record_id not in (skip or set()):
                reg.put(record_id, data)
    return reg


def verify(text: str, seals: MemorySealRegistry | None = None, **kw: Any) -> VerificationResult:
    kw.setdefault("trust_list", trust_list())
    kw.setdefault("at", LATER)
    kw.setdefault("publications_file", backend().trusted_publications_file())
    kw.setdefault("seal_cache", None)
    return verify_certificate(text, seals=seals, **kw)


@pytest.fixture(scope="module")
def paged() -> Batch:
    return issue(11)  # pages of 4, 4 and 3 documents


@pytest.fixture(scope="module")
def other() -> Batch:
    return issue(11)


# -- the page level ---------------------------------------------------------------------------


def test_paged_batch_shape(paged: Batch) -> None:
    assert len(paged.pages) == 3
    assert [c.page for c in paged.certificates] == [0] * 4 + [1] * 4 + [2] * 3
    assert [len(c.path) for c in paged.certificates] == [2] * 10 + [1]
    assert [len(c.page_path) for c in paged.certificates] == [2] * 8 + [1] * 3
    assert paged.seal.batch_size == 11
    ids = [rid for rid, _ in paged.registry_records()]
    assert ids[0] == paged.seal.seal_id
    assert ids[1:] == [page_record_id(paged.seal.seal_id, j) for j in range(3)]
    item = envelope_item(paged.certificates[5].text())
    assert set(item) == {0, 1, 2, 3, 5}
    assert item[0] == ENVELOPE_VERSION
    assert item[5] == 1


def test_every_certificate_verifies(paged: Batch) -> None:
    seals = registry(paged)
    for cert in paged.certificates:
        result = verify(cert.text(), seals)
        assert result.ok, result.message
        assert result.facts["page"] == cert.page
        assert result.facts["seal"] == str(paged.seal.seal)
        contained = verify(cert.text(self_contained=True))
        assert contained.ok, contained.message
        assert contained.facts["self_contained"] is True


def test_small_batch_has_no_page_level() -> None:
    b = issue(4, page_size=4)
    assert b.pages == ()
    assert all(c.page is None and c.page_path == () for c in b.certificates)
    item = envelope_item(b.certificates[1].text(self_contained=True))
    assert set(item) == {0, 1, 2, 4}
    assert verify(b.certificates[1].text(), registry(b)).ok


def test_default_page_size_keeps_compact_texts_small() -> None:
    b = issue(PAGE_SIZE + 1, page_size=PAGE_SIZE)
    assert len(b.pages) == 2
    assert len(b.certificates[0].path) == 5
    assert b.certificates[-1].path == ()  # a page of one: the page root is the leaf
    assert verify(b.certificates[-1].text(), registry(b)).ok


def test_page_record_round_trip(paged: Batch) -> None:
    for page in paged.pages:
        assert PageRecord.from_bytes(page.encode()) == page
    assert paged.certificates[9].page_record == paged.pages[2]


def test_page_record_id_is_pinned() -> None:
    # Part of the format: registries keep page records under these ids.
    expected = hashlib.sha256(
        b"jura-trust JT1 page record\x00" + bytes(range(16)) + (7).to_bytes(4, "big")
    ).digest()[:16]
    assert page_record_id(bytes(range(16)), 7) == expected
    with pytest.raises(CertificateError) as info:
        page_record_id(b"short", 0)
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE
    with pytest.raises(CertificateError):
        page_record_id(bytes(16), -1)


def test_page_record_missing(paged: Batch) -> None:
    cert = paged.certificates[6]
    seals = registry(paged, skip={page_record_id(paged.seal.seal_id, 1)})
    result = verify(cert.text(), seals)
    assert result.code is ErrorCode.CRT_SEAL_NOT_FOUND
    assert result.facts == {}
    assert verify(paged.certificates[0].text(), seals).ok  # page 0 is there


def _with_page_record(
    batch: Batch, page: int, data: bytes, base: MemorySealRegistry | None = None
) -> MemorySealRegistry:
    seals = base or registry(batch)
    seals.put(page_record_id(batch.seal.seal_id, page), data)
    return seals


def test_tampered_page_path(paged: Batch) -> None:
    cert = paged.certificates[5]
    raw = paged.pages[1].encode()
    start = len(raw) - 2 * 33  # the path (two links) ends the record
    for pos in (start, start + 1, start + 33, len(raw) - 1):
        changed = bytearray(raw)
        changed[pos] ^= 0x01
        seals = _with_page_record(paged, 1, bytes(changed))
        result = verify(cert.text(), seals)
        assert not result.ok
        assert result.code is ErrorCode.CRT_PATH_MISMATCH, pos


def test_tampered_embedded_page_record(paged: Batch) -> None:
    cert = paged.certificates[5]
    item = envelope_item(cert.text(self_contained=True))
    links = list(paged.pages[1].path)
    links[0] = evolve(links[0], sibling=bytes(32))
    item[6] = evolve(paged.pages[1], path=tuple(links)).encode()
    assert verify(rebuild(item)).code is ErrorCode.CRT_PATH_MISMATCH
    item[6] = paged.pages[0].encode()  # another page's genuine record
    assert verify(rebuild(item)).code is ErrorCode.CRT_PATH_MISMATCH


def test_wrong_page_record(paged: Batch) -> None:
    cert = paged.certificates[5]  # page 1
    # The registry serves page 2's genuine record under page 1's id.
    seals = _with_page_record(paged, 1, paged.pages[2].encode())
    result = verify(cert.text(), seals)
    assert result.code is ErrorCode.CRT_PATH_MISMATCH
    assert "page" in result.message
    # ... or page 2's path relabelled as page 1.
    relabelled = evolve(paged.pages[2], page=1)
    seals = _with_page_record(paged, 1, relabelled.encode())
    assert verify(cert.text(), seals).code is ErrorCode.CRT_PATH_MISMATCH


def test_page_record_from_another_batch(paged: Batch, other: Batch) -> None:
    cert = paged.certificates[5]
    # The other batch's record for the same page, as it is ...
    seals = _with_page_record(paged, 1, other.pages[1].encode())
    assert verify(cert.text(), seals).code is ErrorCode.CRT_PATH_MISMATCH
    # ... and relabelled with this batch's seal id.
    forged = evolve(other.pages[1], seal_id=paged.seal.seal_id)
    seals = _with_page_record(paged, 1, forged.encode())
    assert verify(cert.text(), seals).code is ErrorCode.CRT_PATH_MISMATCH
    # Self-contained: the other batch's page record embedded.
    item = envelope_item(cert.text(self_contained=True))
    item[6] = forged.encode()
    assert verify(rebuild(item)).code is ErrorCode.CRT_PATH_MISMATCH


def test_changed_page_reference(paged: Batch) -> None:
    cert = paged.certificates[5]
    seals = registry(paged)
    item = envelope_item(cert.text())
    for page in (0, 2):
        assert verify(rebuild({**item, 5: page}), seals).code is ErrorCode.CRT_PATH_MISMATCH
    assert verify(rebuild({**item, 5: 3}), seals).code is ErrorCode.CRT_SEAL_NOT_FOUND
    without = {k: v for k, v in item.items() if k != 5}
    assert verify(rebuild(without), seals).code is ErrorCode.CRT_PATH_MISMATCH


def test_changed_leaf_path_in_a_paged_text(paged: Batch) -> None:
    cert = paged.certificates[5]
    seals = registry(paged)
    item = envelope_item(cert.text())
    for pos in (0, 1, 33, len(item[2]) - 1):
        path = bytearray(item[2])
        path[pos] ^= 0x01
        result = verify(rebuild({**item, 2: bytes(path)}), seals)
        assert result.code is ErrorCode.CRT_PATH_MISMATCH


def test_unreadable_page_record_from_registry(paged: Batch) -> None:
    seals = _with_page_record(paged, 1, b"\xa0")
    with pytest.raises(CertificateError) as info:
        verify(paged.certificates[5].text(), seals)
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE


@pytest.mark.parametrize(
    "mutate",
    [
        lambda i: {k: v for k, v in i.items() if k != 6},  # self-contained page, no record
        lambda i: {**{k: v for k, v in i.items() if k != 4}, 3: bytes(16)},  # 6 with 3
        lambda i: {k: v for k, v in i.items() if k != 5},  # 6 without 5
        lambda i: {**i, 0: 3},
        lambda i: {**i, 0: True},
        lambda i: {**i, 0: 1},
        lambda i: {**i, 5: -1},
        lambda i: {**i, 5: True},
        lambda i: {**i, 5: 1 << 20},
        lambda i: {**i, 6: b"\xa0"},
        lambda i: {**i, 7: 0},
    ],
)
def test_bad_v2_envelopes(paged: Batch, mutate: Any) -> None:
    item = envelope_item(paged.certificates[5].text(self_contained=True))
    with pytest.raises(CertificateError) as info:
        decode_certificate(rebuild(mutate(item)))
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE


@pytest.mark.parametrize(
    "item",
    [
        {1: 2, 2: bytes(16), 3: 0, 4: b""},
        {1: 1, 2: bytes(16), 3: 0},
        {1: 1, 2: bytes(16), 3: 0, 4: b"", 5: 0},
        {1: 1, 2: bytes(15), 3: 0, 4: b""},
        {1: 1, 2: bytes(16), 3: True, 4: b""},
        {1: 1, 2: bytes(16), 3: 0, 4: b"\x00" * 5},
        [1, 2, 3],
    ],
)
def test_bad_page_records(item: Any) -> None:
    from jura_trust.certificates._cbor import dumps_canonical

    data = dumps_canonical(item)
    with pytest.raises(CertificateError) as info:
        PageRecord.from_bytes(data)
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE
    assert PageRecord.from_bytes(dumps_canonical({1: 1, 2: bytes(16), 3: 0, 4: b""})).page == 0


def test_every_single_character_change_of_a_paged_text_fails(paged: Batch) -> None:
    text = paged.certificates[6].text()
    seals = registry(paged)
    tl = trust_list()
    pub = backend().trusted_publications_file()
    cache = SealCache()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    for pos in range(len(text)):
        nxt = alphabet[(alphabet.index(text[pos]) + 1) % 45] if text[pos] in alphabet else "0"
        changed = text[:pos] + nxt + text[pos + 1 :]
        try:
            result = verify_certificate(
                changed,
                trust_list=tl,
                at=LATER,
                seals=seals,
                publications_file=pub,
                seal_cache=cache,
            )
        except CertificateError:
            continue
        assert not result.ok, pos


@settings(max_examples=scaled(8), deadline=None)
@given(st.integers(1, 300), st.integers(1, 40), st.data())
def test_random_batch_and_page_sizes_verify(n: int, page_size: int, data: st.DataObject) -> None:
    b = issue(n, page_size=page_size)
    assert len(b.pages) == (0 if n <= page_size else -(-n // page_size))
    seals = registry(b)
    cache = SealCache()
    for i in {0, n - 1, data.draw(st.integers(0, n - 1))}:
        cert = b.certificates[i]
        for text in (cert.text(), cert.text(self_contained=True)):
            result = verify(text, seals, seal_cache=cache)
            assert result.ok, (n, page_size, i, result.message)


def test_page_size_argument() -> None:
    with pytest.raises(ValueError, match="page_size"):
        issue(3, page_size=0)
    with pytest.raises(TypeError):
        issue(3, page_size=2.0)  # type: ignore[arg-type]


# -- envelope version 1 ----------------------------------------------------------------------


def test_version_1_texts_still_verify() -> None:
    b = issue(3)
    item = envelope_item(b.certificates[1].text())
    del item[0]
    v1 = rebuild(item, zdict=None)
    decoded = decode_certificate(v1)
    assert decoded.version == 1
    assert verify(v1, registry(b)).ok
    contained = envelope_item(b.certificates[1].text(self_contained=True))
    del contained[0]
    assert verify(rebuild(contained, zdict=None)).ok


def test_version_1_texts_cannot_use_the_dictionary() -> None:
    b = issue(1)
    item = envelope_item(b.certificates[0].text(self_contained=True))
    del item[0]
    text = rebuild(item)  # the dictionary shortens it, so it is used
    with pytest.raises(CertificateError) as info:
        decode_certificate(text)
    assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION


def test_version_1_has_no_pages(paged: Batch) -> None:
    item = envelope_item(paged.certificates[5].text())
    del item[0]
    with pytest.raises(CertificateError) as info:
        decode_certificate(rebuild(item, zdict=None))
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE


# -- the preset dictionary ---------------------------------------------------------------------


def test_dictionary_is_pinned() -> None:
    assert hashlib.sha256(ZDICT_V2).hexdigest() == ZDICT_V2_SHA256
    assert ZDICT_V2_SHA256 == "5ad01ce320b35f70386e4f94c5d4037fe6b8db59aefc8b41683cfaac4dc0bc94"
    assert len(ZDICT_V2) == 2949
    assert ZDICT_V2_ID == dictionary_id(ZDICT_V2) == zlib.adler32(ZDICT_V2)
    assert ZDICT_V2.endswith(b"\x08\x21" + filler_root(40))
    for h in range(41):
        assert b"\x07\x21" + filler_root(h) in ZDICT_V2


def test_self_contained_texts_use_the_dictionary(paged: Batch) -> None:
    cert = paged.certificates[0]
    text = cert.text(self_contained=True)
    plain = encode_envelope(cert.envelope_cbor(self_contained=True))
    assert len(text) < len(plain) * 0.85
    data = decode_envelope(text, zdict=ZDICT_V2)
    assert data == cert.envelope_cbor(self_contained=True)
    # Every second before the embedded calendar's first round is filler.
    signature = Signature.from_bytes(paged.seal.ksi_signature)
    fillers = {filler_root(h) for h in range(41)}
    assert any(link.sibling.value in fillers for link in signature.calendar_chain.links)


def test_the_dictionary_never_makes_a_text_longer(paged: Batch) -> None:
    for cert in paged.certificates[:3]:
        for contained in (False, True):
            plain = encode_envelope(cert.envelope_cbor(self_contained=contained))
            assert len(cert.text(self_contained=contained)) <= len(plain)


@settings(max_examples=scaled(100))
@given(st.binary(max_size=1500), st.sampled_from([b"", ZDICT_V2[:200], ZDICT_V2]))
def test_zdict_round_trip(payload: bytes, prefix: bytes) -> None:
    data = prefix + payload
    compressed = compress(data, zdict=ZDICT_V2)
    assert len(compressed) <= len(zlib.compress(data, 9))
    assert decompress(compressed, zdict=ZDICT_V2) == data
    text = encode_envelope(data, zdict=ZDICT_V2)
    assert decode_envelope(text, zdict=ZDICT_V2) == data
    if uses_dictionary(compressed):
        with pytest.raises(CertificateError) as info:
            decompress(compressed)
        assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION


def _primed(data: bytes, zdict: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    return deflater.compress(data) + deflater.flush()


def test_unknown_dictionary_is_rejected() -> None:
    data = _primed(ZDICT_V2[-500:] * 2, ZDICT_V2[:-1])
    with pytest.raises(CertificateError) as info:
        decompress(data, zdict=ZDICT_V2)
    assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION
    # The DCC profile allows no dictionary at all.
    from jura_trust.certificates.base45 import b45encode

    text = "HC1:" + b45encode(_primed(ZDICT_V2[-500:], ZDICT_V2))
    with pytest.raises(CertificateError) as info:
        decode_envelope(text, prefix="HC1:")
    assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION
    with pytest.raises(CertificateError) as info:
        decompress(b"\x78\xbb\x00", zdict=ZDICT_V2)  # FDICT set, DICTID cut short
    assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION


def test_zlib_bomb_with_the_dictionary_is_bounded() -> None:
    bomb = _primed(ZDICT_V2 * 40, ZDICT_V2)
    assert len(bomb) < 2000
    with pytest.raises(CertificateError) as info:
        decompress(bomb, zdict=ZDICT_V2, max_size=MAX_PAYLOAD_SIZE)
    assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION
    assert decompress(bomb, zdict=ZDICT_V2, max_size=len(ZDICT_V2) * 40) == ZDICT_V2 * 40


def test_bad_dictionary_argument() -> None:
    with pytest.raises(ValueError, match="dictionary"):
        compress(b"x", zdict=b"")
    with pytest.raises(ValueError, match="dictionary"):
        compress(b"x", zdict=bytes(40000))


# -- the seal cache ----------------------------------------------------------------------------


def _outcome(result: VerificationResult) -> tuple[Any, ...]:
    return (
        result.outcome,
        result.code,
        result.message,
        result.steps,
        result.aggregation_time,
        dict(result.facts),
        result.anchor,
    )


def test_cache_makes_a_batch_cheap(paged: Batch) -> None:
    cache = SealCache()
    seals = registry(paged)
    tl = trust_list()
    pub = backend().trusted_publications_file()
    for cert in paged.certificates:
        result = verify(cert.text(), seals, trust_list=tl, publications_file=pub, seal_cache=cache)
        assert result.ok
    assert (cache.misses, cache.hits, len(cache)) == (1, len(paged) - 1, 1)
    cache.clear()
    assert (cache.misses, cache.hits, len(cache)) == (0, 0, 0)


def test_cache_gives_the_same_results(paged: Batch) -> None:
    """Valid and failing cases, without a cache, cold and warm: same outcome."""
    seals = registry(paged)
    tl = trust_list()
    pub = backend().trusted_publications_file()
    stale = trust_list(issuer_key(keys.p256(), days_before=-5, days_after=700))
    no_type = trust_list(issuer_key(keys.p256()), types=("something-else",))
    cert = paged.certificates[2]
    forged_claim = evolve(cert.payload, issued_at=NOW + timedelta(days=2)).to_cbor()
    item = envelope_item(cert.text(self_contained=True))
    # Issued with a claimed time a day after the KSI time: step 6 fails on
    # the payload's claim (per certificate) before the seal's (cached part).
    early = issue(6, issued_at_override=NOW + timedelta(days=1))
    cases: list[tuple[str, dict[str, Any]]] = [
        (early.certificates[5].text(self_contained=True), {"at": NOW + timedelta(days=3)}),
        (cert.text(), {}),
        (cert.text(), {"at": NOW + timedelta(days=91)}),
        (cert.text(), {"at": NOW + timedelta(days=400)}),
        (cert.text(), {"trust_list": stale}),
        (cert.text(), {"trust_list": no_type}),
        (cert.text(), {"publications_file": None}),
        (rebuild({**item, 1: forged_claim}), {}),
    ]
    cache = SealCache()
    for text, changes in cases:
        kw = {"trust_list": tl, "publications_file": pub, **changes}
        without = _outcome(verify(text, seals, seal_cache=None, **kw))
        cold = _outcome(verify(text, seals, seal_cache=cache, **kw))
        warm = _outcome(verify(text, seals, seal_cache=cache, **kw))
        assert without == cold == warm, text


def test_cache_never_turns_a_failure_into_success(paged: Batch, other: Batch) -> None:
    cache = SealCache()
    seals = registry(paged)
    tl = trust_list()
    pub = backend().trusted_publications_file()
    text = paged.certificates[0].text()

    def run(**kw: Any) -> VerificationResult:
        kw = {"trust_list": tl, "publications_file": pub, "seal_cache": cache, **kw}
        return verify(text, kw.pop("seals", seals), **kw)

    # A failure is not stored: the same inputs fail again, and nothing is cached.
    assert run(publications_file=None).code is ErrorCode.CRT_KSI_INVALID
    assert run(publications_file=None).code is ErrorCode.CRT_KSI_INVALID
    assert len(cache) == 0
    assert run().ok
    assert len(cache) == 1
    # After a success, any other input is a miss and decides afresh.
    assert run(publications_file=None).code is ErrorCode.CRT_KSI_INVALID
    stale = trust_list(issuer_key(keys.p256(), days_before=-5, days_after=700))
    assert run(trust_list=stale).code is ErrorCode.CRT_KEY_NOT_VALID
    assert run(ksi_check=lambda sig, seal: (False, "refused")).code is ErrorCode.CRT_KSI_INVALID
    assert run(ksi_check=lambda sig, seal: (True, "accepted")).ok
    assert run(clock_skew=timedelta(0)).ok
    # A different seal record (same seal id, other bytes) is checked in full.
    bad_cose = evolve(paged.seal.cose, signature=paged.seal.cose.signature[:-1] + b"\x00")
    bad = evolve(paged.seal, cose=bad_cose)
    tampered = registry(paged)
    tampered.put(paged.seal.seal_id, bad.encode())
    assert run(seals=tampered).code is ErrorCode.CRT_BAD_SIGNATURE
    # A record of another batch under this id: still a path mismatch.
    swapped = registry(paged)
    swapped.put(paged.seal.seal_id, other.seal.encode())
    assert run(seals=swapped).code is ErrorCode.CRT_PATH_MISMATCH
    # The validation time and per-certificate checks still apply on a hit.
    assert run(at=NOW + timedelta(days=400)).code is ErrorCode.CRT_TRUST_LIST_INVALID
    assert run(at=NOW + timedelta(days=91)).code is ErrorCode.CRT_EXPIRED
    assert run().ok


def test_cache_is_bounded() -> None:
    cache = SealCache(maxsize=2)
    tl = trust_list()
    pub = backend().trusted_publications_file()
    batches = [issue(2) for _ in range(3)]
    for b in batches:
        text = b.certificates[0].text()
        assert verify(text, registry(b), trust_list=tl, publications_file=pub, seal_cache=cache).ok
    assert len(cache) == 2
    assert cache.hits == 0
    with pytest.raises(ValueError, match="maxsize"):
        SealCache(0)
    with pytest.raises(TypeError):
        verify(batches[0].certificates[0].text(), seal_cache={})  # type: ignore[arg-type]


@pytest.mark.parametrize("self_contained", [False, True], ids=["compact", "self-contained"])
def test_paged_certificates_keep_every_guarantee(paged: Batch, self_contained: bool) -> None:
    from jura_trust.certificates.jt1 import Payload

    cert = paged.certificates[9]
    seals = registry(paged)
    item = envelope_item(cert.text(self_contained=self_contained))
    payload = Payload.from_cbor(item[1])
    for changes in (
        {"fields": {**dict(payload.fields), "statut": "poursuites en cours"}},
        {"salt": bytes(16)},
        {"issued_at": payload.issued_at - timedelta(seconds=1)},
    ):
        forged = rebuild({**item, 1: evolve(payload, **changes).to_cbor()})
        assert verify(forged, seals).code is ErrorCode.CRT_PATH_MISMATCH
    if self_contained:
        cose = paged.seal.cose
        bad_cose = evolve(cose, signature=cose.signature[:-1] + bytes([cose.signature[-1] ^ 1]))
        bad = evolve(paged.seal, cose=bad_cose).encode()
        assert verify(rebuild({**item, 4: bad})).code is ErrorCode.CRT_BAD_SIGNATURE
        other_ksi = backend().sign(cert.leaf).encode()
        bad = evolve(paged.seal, ksi_signature=other_ksi).encode()
        assert verify(rebuild({**item, 4: bad})).code is ErrorCode.CRT_KSI_INVALID
    else:
        forged_seal = registry(paged)
        forged_seal.put(paged.seal.seal_id, issue(11).seal.encode())
        assert verify(cert.text(), forged_seal).code is ErrorCode.CRT_PATH_MISMATCH
