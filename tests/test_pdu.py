"""KSI PDU v2 codec: libksi's PDU vectors, HMACs, round trips and a decoder fuzzer."""

from __future__ import annotations

import hmac as std_hmac
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jura_trust import pdu
from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, FormatError, JuraError
from jura_trust.verify import verify_signature
from tests.budget import scaled
from tests.vectors import KSI, ksi_bytes

KEY = b"anon"
V2 = KSI / "tlv" / "v2"
CURATED = KSI / "pdus"
VECTOR_FILES = sorted(V2.glob("*.tlv")) + sorted(CURATED.glob("*.tlv"))

# Files that must not parse, with the code each one raises. Each names its defect.
NEGATIVES: dict[str, ErrorCode] = {
    # spec section 9: header first, HMAC last
    "nok-aggr-response-header-not-first.tlv": ErrorCode.FMT_BAD_PDU,
    "nok-aggr-response-hmac-not-last.tlv": ErrorCode.FMT_BAD_PDU,
    "nok-extender-response-header-not-first.tlv": ErrorCode.FMT_BAD_PDU,
    "nok-extender-response-hmac-not-last.tlv": ErrorCode.FMT_BAD_PDU,
    # payloads and an HMAC but no header (libksi: KSI_INVALID_FORMAT)
    "nok_aggr_response_missing_header.tlv": ErrorCode.FMT_BAD_PDU,
    # an unknown critical 0x99 where the header belongs, so no header either
    "nok_aggr_response_bad_tag.tlv": ErrorCode.FMT_BAD_PDU,
    # reduced error PDU whose error lacks its mandatory status (libksi:
    # "Mandatory element missing ... status")
    "tlv_missing_tag.tlv": ErrorCode.FMT_MISSING,
    # an unknown *critical* 0x1399 at PDU level
    "ok-sig-2014-07-01.1-aggr_response-critical-unknown-payload.tlv": ErrorCode.FMT_UNKNOWN_CRITICAL,
    # an ack (0x05) in an extend response: the extender PDU has no ack element
    "ok-sig-2014-04-30.1-extend_response-with-conf-and-ack.tlv": ErrorCode.FMT_UNKNOWN_CRITICAL,
    # the header's login id is 4 raw bytes with no NUL (and its message id is "anon")
    "ok-sig-2014-07-01.1-aggr_response_ordered.tlv": ErrorCode.FMT_BAD_STRING,
}
# Negatives whose HMAC does not verify on the raw bytes either: the elements
# were moved after the HMAC was computed, or there is no HMAC at all.
RAW_HMAC_BROKEN = {
    "nok-aggr-response-header-not-first.tlv",
    "nok-aggr-response-hmac-not-last.tlv",
    "nok-extender-response-header-not-first.tlv",
    "nok-extender-response-hmac-not-last.tlv",
    "tlv_missing_tag.tlv",
}
# Absent payload statuses (issue 9): libksi reads a response payload without
# a status element (0x04) as OK, and so do we. Its three recorded responses
# without one (aggr_response.tlv, ok-local_aggr_lvl4_resp.tlv and
# aggr-response-no-cal-auth-and-invalid-cal.tlv, PDU v1 files converted to v2)
# are not in this repository's copy of the vectors, so no file is listed
# here; test_absent_payload_status_reads_as_ok and the ksi_http client tests
# build the same shape from recorded responses instead.
# Files holding several PDUs back to back (spec: three upstream; two copied here).
MULTI = {
    "ok-sig-2014-07-01.1-aggr-response-multiple-responses.tlv": 3,
    "ok-sig-2014-07-01.1-aggr_response-duplicate-response-ok.tlv": 2,
}
# libksi's 106 files hold 102 HMAC-verifying PDUs (spec section 9); this
# repository has 70 of those files plus 3 curated copies: 76 PDUs, of which
# 71 carry a verifying HMAC and 66 parse.
EXPECTED_PDUS = 76
EXPECTED_HMAC_OK = 71
EXPECTED_PARSED = 66


def _ids(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _raw_hmac_ok(element: tlv.TLV, key: bytes) -> bool:
    """The spec's HMAC rule on raw bytes, for PDUs the strict parser refuses."""
    macs = [c for c in element.children() if c.type == 0x1F]
    if len(macs) != 1:
        return False
    mac = Imprint(macs[0].value)
    size = mac.algorithm.digest_size
    raw = element.raw
    expected = pdu.compute_hmac(mac.algorithm, key, raw[:-size])
    return raw.endswith(mac.digest) and std_hmac.compare_digest(expected, mac.digest)


# -- vectors ------------------------------------------------------------------------


def test_vector_inventory():
    names = {p.name for p in V2.glob("*.tlv")}
    assert len(names) == 70
    assert set(NEGATIVES) <= names
    assert len(list(CURATED.glob("*.tlv"))) == 3


@pytest.mark.parametrize("path", VECTOR_FILES, ids=_ids)
def test_vector_parses_or_fails_with_its_code(path):
    data = path.read_bytes()
    expected = NEGATIVES.get(path.name)
    if expected is not None:
        with pytest.raises(FormatError) as info:
            pdu.parse_pdus(data)
        assert info.value.code is expected
        return
    pdus = pdu.parse_pdus(data)
    assert len(pdus) == MULTI.get(path.name, 1)
    assert b"".join(p.raw for p in pdus) == data
    for p in pdus:
        if p.hmac is not None:
            pdu.verify_hmac(p, KEY)
            with pytest.raises(BackendError) as info:
                pdu.verify_hmac(p, b"anon2")
            assert info.value.code is ErrorCode.SVC_AUTH


def test_vector_counts():
    total = hmac_ok = parsed = 0
    for path in VECTOR_FILES:
        data = path.read_bytes()
        elements = tlv.decode_sequence(data)
        total += len(elements)
        for element in elements:
            if path.name in NEGATIVES:
                hmac_ok += _raw_hmac_ok(element, KEY)
                continue
            p = pdu.parse_pdu(element.raw)
            parsed += 1
            pdu.verify_hmac(p, KEY)
            hmac_ok += 1
        if path.name in RAW_HMAC_BROKEN:
            assert not any(_raw_hmac_ok(e, KEY) for e in elements), path.name
    assert (total, hmac_ok, parsed) == (EXPECTED_PDUS, EXPECTED_HMAC_OK, EXPECTED_PARSED)


def _encode_like(p: pdu.PDU) -> bytes:
    """Re-encode a parsed PDU with this module's encoders and the same header."""
    if p.header is None:
        assert p.error is not None
        return pdu.encode_error_pdu(p.TYPE, p.error)
    assert p.hmac is not None
    kw = {
        "login_id": p.header.login_id,
        "key": KEY,
        "algorithm": p.hmac.algorithm,
        "instance_id": p.header.instance_id,
        "message_id": p.header.message_id,
    }
    if isinstance(p, pdu.AggregationRequestPDU):
        return pdu.encode_aggregation_request(
            p.requests, config_request=p.config_request, ack_request=p.ack_request, **kw
        )
    if isinstance(p, pdu.ExtendRequestPDU):
        return pdu.encode_extend_request(p.requests, config_request=p.config_request, **kw)
    if isinstance(p, pdu.AggregationResponsePDU):
        return pdu.encode_aggregation_response(
            p.responses, error=p.error, config=p.config, ack=p.ack, **kw
        )
    return pdu.encode_extend_response(p.responses, error=p.error, config=p.config, **kw)


# Vectors whose bytes differ from our canonical encoding, and why.
NOT_CANONICAL = {
    # the server wrote the calendar auth record and calendar chain before the chains
    "ok-sig-2014-07-01.1-aggr_response.tlv",
    "ok-sig-2014-07-01.1-aggr-response-multiple-responses.tlv",
    "ok-sig-2014-07-01.1-aggr_response-duplicate-response-ok.tlv",
    "ok-sig-2014-07-01.1-aggr_response-hmac_sha512.tlv",
    "ok-sig-2014-07-01.1-aggr_response-multi-payload.tlv",
    "ok-sig-2014-07-01.1-aggr_response-with-conf-and-ack.tlv",
    "ok-sig-2014-07-01.1-aggr_response-with-status-301.tlv",
    # N and F flags on the PDU children; a dropped unknown non-critical element
    "ok-sig-2014-04-30.1-extend_response-with-flags.tlv",
    "ok-sig-2014-07-01.1-aggr_response-with-flags.tlv",
    "ok-sig-2014-07-01.1-aggr_response-non-critical-unknown-payload.tlv",
}


@pytest.mark.parametrize(
    "path", [p for p in sorted(V2.glob("*.tlv")) if p.name not in NEGATIVES], ids=_ids
)
def test_reencoding_matches_libksi_bytes(path):
    data = path.read_bytes()
    out = b"".join(_encode_like(p) for p in pdu.parse_pdus(data))
    assert (out == data) is (path.name not in NOT_CANONICAL)


def test_aggregation_request_vector():
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/aggr_request.tlv"))
    assert isinstance(p, pdu.AggregationRequestPDU)
    assert p.header == pdu.Header("anon")
    (req,) = p.requests
    assert req.request_id == 1
    assert req.request_hash.hex().startswith("0111a700")
    assert req.request_level == 0
    assert not p.config_request
    assert p.ack_request is None


def test_extend_request_vector():
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/extend_request.tlv"))
    assert isinstance(p, pdu.ExtendRequestPDU)
    assert p.requests == (pdu.ExtendRequest(1, 0x53610150, 0x53740380),)


def test_config_and_ack_vectors():
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/aggr_conf_response-max_req_1024.tlv"))
    assert isinstance(p, pdu.AggregationResponsePDU)
    assert p.responses == ()
    assert p.config is not None
    assert p.config.max_requests == 1024
    assert p.config.aggregation_algorithm is HashAlgorithm.SHA2_256
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/ok-sig-2014-07-01.1-aggr_response-with-conf-and-ack.tlv"))
    assert isinstance(p, pdu.AggregationResponsePDU)
    assert p.config is not None
    assert len(p.config.parent_uris) == 3
    assert p.ack is not None
    assert p.ack.request_time is not None
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/ok-sig-2014-04-30.1-extend_response-with-conf.tlv"))
    assert isinstance(p, pdu.ExtendResponsePDU)
    assert p.config is not None
    assert len(p.config.parent_uris) == 3
    assert p.config.calendar_first_time is not None
    assert p.config.calendar_last_time is not None


def test_unknown_non_critical_kept_and_flags_read():
    p = pdu.parse_pdu(
        ksi_bytes("tlv/v2/ok-sig-2014-07-01.1-aggr_response-non-critical-unknown-payload.tlv")
    )
    assert [u.type for u in p.unknown] == [0x1399]
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/ok-sig-2014-07-01.1-aggr_response-hmac_sha512.tlv"))
    assert p.hmac is not None
    assert p.hmac.algorithm is HashAlgorithm.SHA2_512


@pytest.mark.parametrize(
    "status", [0x101, 0x102, 0x103, 0x104, 0x106, 0x107, 0x200, 0x201, 0x202, 0x300, 0x301]
)
def test_extender_error_vectors(status):
    p = pdu.parse_pdu(ksi_bytes(f"tlv/v2/ok_extender_error_response_{status:x}.tlv"))
    assert isinstance(p, pdu.ExtendResponsePDU)
    (resp,) = p.responses
    assert resp.status == status
    assert resp.error_message
    assert pdu.ExtenderStatus(status).message
    extender = pdu.recorded_extender(p.raw, hmac_key=KEY)
    with pytest.raises(BackendError) as info:
        extender(1398866256, None)
    assert info.value.code is ErrorCode.SVC_EXTEND
    assert info.value.details["status"] == status


def test_error_element_vector():
    p = pdu.parse_pdu(
        ksi_bytes("tlv/v2/ok-sig-2014-04-30.1-extend_response-response-with-error-payload.tlv")
    )
    assert isinstance(p, pdu.ExtendResponsePDU)
    assert p.error is not None
    assert p.error.status != 0
    with pytest.raises(BackendError) as info:
        pdu.recorded_extender(p.raw)(1, None)
    assert info.value.code is ErrorCode.SVC_EXTEND


def test_status_301_responses():
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/ok-sig-2014-07-01.1-aggr_response-with-status-301.tlv"))
    assert isinstance(p, pdu.AggregationResponsePDU)
    with pytest.raises(BackendError) as info:
        p.responses[0].signature()
    assert info.value.code is ErrorCode.SVC_REFUSED
    assert "upstream" in info.value.message
    data = ksi_bytes("tlv/v2/ok-sig-2014-04-30.1-extend_response-with-status-301.tlv")
    with pytest.raises(BackendError) as info:
        pdu.recorded_extender(data, hmac_key=KEY)(1398866256, None)
    assert info.value.code is ErrorCode.SVC_EXTEND


# -- the curated PDUs -------------------------------------------------------------------


def test_curated_aggregation_response_assembles_a_valid_signature():
    data = ksi_bytes("pdus/ok-sig-2014-07-01.1-aggr_response.tlv")
    p = pdu.parse_pdu(data)
    assert isinstance(p, pdu.AggregationResponsePDU)
    pdu.verify_hmac(p, KEY, algorithm=HashAlgorithm.SHA2_256)
    (resp,) = p.responses
    sig = resp.signature()
    # the five 0x80x pieces, byte for byte, are the signature's elements
    payload = next(c for c in tlv.decode(data).children() if c.type == 0x02)
    pieces = sorted(c.raw for c in payload.children() if c.type >= 0x800)
    assert len(pieces) == 5
    encoded = sig.encode()
    assert sorted(c.raw for c in tlv.decode(encoded).children()) == pieces
    again = Signature.from_bytes(encoded)
    assert again.encode() == encoded
    assert verify_signature(sig, policy="internal").outcome.value == "OK"
    assert verify_signature(again, policy="internal").outcome.value == "OK"


def test_invalid_chain_response_assembles_but_fails_internal_policy():
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/nok_aggr_response-invalid-aggr-chain.tlv"))
    assert isinstance(p, pdu.AggregationResponsePDU)
    result = verify_signature(p.responses[0].signature(), policy="internal")
    assert result.outcome.value == "FAIL"


def test_curated_extend_response_chain():
    data = ksi_bytes("pdus/ok-sig-2014-04-30.1-extend_response.tlv")
    p = pdu.parse_pdu(data)
    assert isinstance(p, pdu.ExtendResponsePDU)
    (resp,) = p.responses
    chain = resp.calendar_chain
    assert chain is not None
    assert chain.publication_time == 1400112000
    assert chain.aggregation_time == 1398866256
    root = chain.root().hex()
    assert root.startswith("0189c1ef")
    assert root.endswith("ba59")
    sig = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig"))
    assert sig.calendar_chain is not None
    assert chain.right_siblings() == sig.calendar_chain.right_siblings()
    extender = pdu.recorded_extender(data, hmac_key=KEY)
    assert extender(1398866256, 1400112000) == chain
    assert extender(1398866256, None) == chain
    nok = pdu.recorded_extender(ksi_bytes("pdus/ok-sig-2014-04-30.1-nok-extend_response-1.tlv"))
    assert nok(1398866256, None).root() != chain.root()


def test_recorded_extender_refusals():
    data = ksi_bytes("pdus/ok-sig-2014-04-30.1-extend_response.tlv")
    with pytest.raises(BackendError) as info:
        pdu.recorded_extender(data, hmac_key=b"wrong")
    assert info.value.code is ErrorCode.SVC_AUTH
    with pytest.raises(FormatError) as info2:
        pdu.recorded_extender(ksi_bytes("tlv/v2/aggr_request.tlv"))
    assert info2.value.code is ErrorCode.FMT_BAD_PDU
    no_chain = pdu.encode_extend_response(
        pdu.ExtendResponse(1, 0, calendar_last_time=5), login_id="anon", key=KEY
    )
    with pytest.raises(BackendError) as info:
        pdu.recorded_extender(no_chain)(1, None)
    assert info.value.code is ErrorCode.SVC_EXTEND


def test_multi_payload_extender_picks_matching_chain():
    data = ksi_bytes("tlv/v2/ok-sig-2014-04-30.1-extend_response-multi-payload.tlv")
    p = pdu.parse_pdu(data)
    assert isinstance(p, pdu.ExtendResponsePDU)
    assert len(p.responses) == 2
    chain = pdu.recorded_extender(data)(1398866256, None)
    assert chain.aggregation_time == 1398866256


# -- structure rules on our own bytes ----------------------------------------------------


def _children(data: bytes) -> tuple[int, list[tlv.TLV]]:
    element = tlv.decode(data)
    return element.type, element.children()


def _rebuild(typ: int, children: list[tlv.TLV]) -> bytes:
    return tlv.encode(typ, b"".join(c.raw for c in children))


def _sample_request() -> bytes:
    req = pdu.AggregationRequest(7, Imprint.hash(b"doc"), 3)
    return pdu.encode_aggregation_request(req, login_id="anon", key=KEY, message_id=2)


def test_header_not_first_and_hmac_not_last():
    typ, kids = _children(_sample_request())
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(_rebuild(typ, [kids[1], kids[0], *kids[2:]]))
    assert info.value.code is ErrorCode.FMT_BAD_PDU
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(_rebuild(typ, [kids[0], kids[2], kids[1]]))
    assert info.value.code is ErrorCode.FMT_BAD_PDU
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(_rebuild(typ, kids[:-1]))
    assert info.value.code is ErrorCode.FMT_BAD_PDU
    assert info.value.details["missing"] == "HMAC"
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(_rebuild(typ, [kids[0], kids[0], *kids[1:]]))
    assert info.value.code is ErrorCode.FMT_DUPLICATE


def test_reduced_error_pdus():
    for typ in (pdu.AGGREGATION_RESPONSE_PDU_TYPE, pdu.EXTEND_RESPONSE_PDU_TYPE):
        data = pdu.encode_error_pdu(typ, pdu.ErrorPayload(0x102, "who are you?"))
        p = pdu.parse_pdu(data)
        assert isinstance(p, pdu.AggregationResponsePDU | pdu.ExtendResponsePDU)
        assert p.header is None
        assert p.hmac is None
        assert p.error == pdu.ErrorPayload(0x102, "who are you?")
        with pytest.raises(BackendError) as info:
            pdu.verify_hmac(p, KEY)
        assert info.value.code is ErrorCode.SVC_AUTH
    # a request has no reduced form (the layout is checked before the template)
    with pytest.raises(FormatError) as info2:
        pdu.parse_pdu(tlv.encode(0x220, pdu.ErrorPayload(1).encode()))
    assert info2.value.code is ErrorCode.FMT_BAD_PDU
    with pytest.raises(FormatError) as info2:
        pdu.parse_pdu(tlv.encode(0x320, tlv.encode(0x04, b"")))
    assert info2.value.code is ErrorCode.FMT_BAD_PDU
    with pytest.raises(ValueError, match="response"):
        pdu.encode_error_pdu(0x220, pdu.ErrorPayload(1))


def test_dispatch_errors():
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(tlv.encode(0x200, b""))
    assert info.value.code is ErrorCode.FMT_BAD_PDU
    assert "version 1" in info.value.message
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig"))
    assert info.value.code is ErrorCode.FMT_BAD_PDU
    with pytest.raises(FormatError) as info:
        pdu.parse_pdus(b"")
    assert info.value.code is ErrorCode.FMT_TRUNCATED
    with pytest.raises(FormatError) as info:
        pdu.parse_pdus(bytes(pdu.MAX_STREAM_SIZE + 1))
    assert info.value.code is ErrorCode.FMT_LIMIT
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(_sample_request() + b"\x00")
    assert info.value.code is ErrorCode.FMT_TRAILING_DATA


def test_hmac_algorithm_policy():
    # SHA-1 is not trusted for new HMACs: encoding refuses it...
    with pytest.raises(ValueError, match="not trusted"):
        pdu.encode_extend_request(
            pdu.ExtendRequest(1, 2), login_id="a", key=KEY, algorithm=HashAlgorithm.SHA1
        )
    # ...and a SHA-1 HMAC that is arithmetically right is still refused.
    typ, kids = _children(pdu.encode_extend_request(pdu.ExtendRequest(1, 2), login_id="a", key=KEY))
    body = b"".join(c.raw for c in kids[:-1]) + tlv.encode(0x1F, bytes(21))
    unsigned = tlv.encode(typ, body)[:-20]
    forged = unsigned + std_hmac.digest(KEY, unsigned, "sha1")
    p = pdu.parse_pdu(forged)
    with pytest.raises(BackendError) as info:
        pdu.verify_hmac(p, KEY)
    assert info.value.code is ErrorCode.SVC_AUTH
    assert "not trusted" in info.value.message
    good = pdu.parse_pdu(pdu.encode_extend_request(pdu.ExtendRequest(1, 2), login_id="a", key=KEY))
    with pytest.raises(BackendError):
        pdu.verify_hmac(good, KEY, algorithm=HashAlgorithm.SHA2_512)
    # a SHA-1 request hash is refused at creation
    with pytest.raises(ValueError, match="not trusted"):
        pdu.encode_aggregation_request(
            pdu.AggregationRequest(1, Imprint.hash(b"x", HashAlgorithm.SHA1)),
            login_id="a",
            key=KEY,
        )


def test_level_limits():
    with pytest.raises(ValueError, match="level"):
        pdu.encode_aggregation_request(
            pdu.AggregationRequest(1, Imprint.hash(b"x"), 256), login_id="a", key=KEY
        )
    typ, kids = _children(_sample_request())
    payload = tlv.encode(
        0x02,
        tlv.encode(0x01, b"\x01")
        + tlv.encode(0x02, Imprint.hash(b"x").value)
        + tlv.encode(0x03, b"\x01\x00"),
    )
    unsigned = tlv.encode(typ, kids[0].raw + payload + kids[-1].raw)
    with pytest.raises(FormatError) as info:
        pdu.parse_pdu(unsigned)
    assert info.value.code is ErrorCode.FMT_LIMIT


def test_status_enums():
    assert pdu.AggregatorStatus(0x104) is pdu.AggregatorStatus.REQUEST_TOO_LARGE
    assert pdu.ExtenderStatus(0x104) is pdu.ExtenderStatus.INVALID_TIME_RANGE
    assert "backwards" in pdu.ExtenderStatus.INVALID_TIME_RANGE.message
    assert all(s.message for s in pdu.AggregatorStatus)
    assert all(s.message for s in pdu.ExtenderStatus)
    assert "unknown" in pdu.AggregatorStatus.describe(0x999)


# -- round trips ----------------------------------------------------------------------

HMAC_ALGORITHMS = st.sampled_from([HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512])
UINT = st.integers(min_value=0, max_value=(1 << 64) - 1)
OPT_UINT = st.none() | UINT
TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20
)
IMPRINTS = st.builds(
    Imprint.hash,
    st.binary(max_size=8),
    st.sampled_from([a for a in HashAlgorithm if a.trusted and a is not HashAlgorithm.SM3]),
)
HEADERS = st.fixed_dictionaries({"login_id": TEXT, "instance_id": OPT_UINT, "message_id": OPT_UINT})
ACKS = st.builds(pdu.AggregationAck, OPT_UINT, OPT_UINT, OPT_UINT, OPT_UINT, OPT_UINT, OPT_UINT)
ERRORS = st.builds(pdu.ErrorPayload, UINT, st.none() | TEXT)
URIS = st.lists(TEXT, max_size=3).map(tuple)


def _curated_response() -> pdu.AggregationResponse:
    p = pdu.parse_pdu(ksi_bytes("pdus/ok-sig-2014-07-01.1-aggr_response.tlv"))
    assert isinstance(p, pdu.AggregationResponsePDU)
    return p.responses[0]


def _curated_chain():
    p = pdu.parse_pdu(ksi_bytes("pdus/ok-sig-2014-04-30.1-extend_response.tlv"))
    assert isinstance(p, pdu.ExtendResponsePDU)
    return p.responses[0].calendar_chain


CURATED_RESPONSE = _curated_response()
CURATED_CHAIN = _curated_chain()


@st.composite
def aggregation_responses(draw: st.DrawFn) -> pdu.AggregationResponse:
    with_items = draw(st.booleans())
    base = CURATED_RESPONSE
    return pdu.AggregationResponse(
        request_id=draw(UINT),
        status=draw(st.sampled_from([0, 0x101, 0x301]) | UINT),
        error_message=draw(st.none() | TEXT),
        aggregation_chains=base.aggregation_chains if with_items else (),
        calendar_chain=base.calendar_chain if with_items else None,
        calendar_auth_record=base.calendar_auth_record if with_items else None,
    )


EXTEND_RESPONSES = st.builds(
    pdu.ExtendResponse,
    UINT,
    UINT,
    st.none() | TEXT,
    OPT_UINT,
    st.sampled_from([None, CURATED_CHAIN]),
)
AGGREGATION_REQUESTS = st.builds(
    pdu.AggregationRequest, UINT, IMPRINTS, st.integers(min_value=0, max_value=pdu.MAX_LEVEL)
)
EXTEND_REQUESTS = st.builds(pdu.ExtendRequest, UINT, UINT, OPT_UINT)
ROUND_TRIP = settings(
    max_examples=scaled(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _check(data: bytes, header: dict[str, object], alg: HashAlgorithm) -> pdu.PDU:
    p = pdu.parse_pdu(data)
    assert p.raw == data
    assert p.header == pdu.Header(**header)  # type: ignore[arg-type]
    assert p.hmac is not None
    assert p.hmac.algorithm is alg
    pdu.verify_hmac(p, b"secret", algorithm=alg)
    with pytest.raises(BackendError) as info:
        pdu.verify_hmac(p, b"secreT")
    assert info.value.code is ErrorCode.SVC_AUTH
    assert pdu.parse_pdus(data + data) == [p, p]
    return p


@ROUND_TRIP
@given(
    st.lists(AGGREGATION_REQUESTS, max_size=4),
    HEADERS,
    HMAC_ALGORITHMS,
    st.booleans(),
    st.none() | ACKS,
)
def test_round_trip_aggregation_request(requests, header, alg, config_request, ack):
    data = pdu.encode_aggregation_request(
        requests,
        key=b"secret",
        algorithm=alg,
        config_request=config_request,
        ack_request=ack,
        **header,
    )
    p = _check(data, header, alg)
    assert isinstance(p, pdu.AggregationRequestPDU)
    assert p.requests == tuple(requests)
    assert p.config_request is config_request
    assert p.ack_request == ack


@ROUND_TRIP
@given(
    st.lists(aggregation_responses(), max_size=2),
    HEADERS,
    HMAC_ALGORITHMS,
    st.none() | ERRORS,
    st.none()
    | st.builds(
        pdu.AggregatorConfig,
        OPT_UINT,
        st.none() | st.sampled_from(list(HashAlgorithm)),
        OPT_UINT,
        OPT_UINT,
        URIS,
    ),
    st.none() | ACKS,
)
def test_round_trip_aggregation_response(responses, header, alg, error, config, ack):
    data = pdu.encode_aggregation_response(
        responses, key=b"secret", algorithm=alg, error=error, config=config, ack=ack, **header
    )
    p = _check(data, header, alg)
    assert isinstance(p, pdu.AggregationResponsePDU)
    assert p.responses == tuple(responses)
    assert (p.error, p.config, p.ack) == (error, config, ack)
    for resp in p.responses:
        if resp.status == 0 and resp.aggregation_chains:
            assert resp.signature().encode() == CURATED_RESPONSE.signature().encode()


@ROUND_TRIP
@given(st.lists(EXTEND_REQUESTS, max_size=4), HEADERS, HMAC_ALGORITHMS, st.booleans())
def test_round_trip_extend_request(requests, header, alg, config_request):
    data = pdu.encode_extend_request(
        requests, key=b"secret", algorithm=alg, config_request=config_request, **header
    )
    p = _check(data, header, alg)
    assert isinstance(p, pdu.ExtendRequestPDU)
    assert p.requests == tuple(requests)
    assert p.config_request is config_request


@ROUND_TRIP
@given(
    st.lists(EXTEND_RESPONSES, max_size=3),
    HEADERS,
    HMAC_ALGORITHMS,
    st.none() | ERRORS,
    st.none() | st.builds(pdu.ExtenderConfig, OPT_UINT, URIS, OPT_UINT, OPT_UINT),
)
def test_round_trip_extend_response(responses, header, alg, error, config):
    data = pdu.encode_extend_response(
        responses, key=b"secret", algorithm=alg, error=error, config=config, **header
    )
    p = _check(data, header, alg)
    assert isinstance(p, pdu.ExtendResponsePDU)
    assert p.responses == tuple(responses)
    assert (p.error, p.config) == (error, config)


@pytest.mark.parametrize("alg", [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512])
def test_single_payload_shorthand_and_tampering(alg):
    data = pdu.encode_extend_request(
        pdu.ExtendRequest(1, 1398866256), login_id="anon", key=KEY, algorithm=alg
    )
    assert data == pdu.encode_extend_request(
        [pdu.ExtendRequest(1, 1398866256)], login_id="anon", key=KEY, algorithm=alg
    )
    # any change to the covered bytes (here the aggregation time) breaks the HMAC
    tampered = data.replace(b"\x02\x04\x53\x61", b"\x02\x04\x53\x62", 1)
    assert tampered != data
    with pytest.raises(BackendError) as info:
        pdu.verify_hmac(pdu.parse_pdu(tampered), KEY)
    assert info.value.code is ErrorCode.SVC_AUTH


# -- fuzzing ---------------------------------------------------------------------------
# CI runs a bounded number of examples. For a long run, raise max_examples
# (e.g. 200_000) or run with a hypothesis profile and --hypothesis-seed.

FUZZ = settings(
    max_examples=scaled(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
VECTOR_BYTES = [p.read_bytes() for p in VECTOR_FILES]


def _exercise(data: bytes) -> None:
    try:
        pdus = pdu.parse_pdus(data)
    except JuraError:
        return
    for p in pdus:
        try:
            pdu.verify_hmac(p, KEY)
        except JuraError:
            pass
        if isinstance(p, pdu.AggregationResponsePDU):
            for resp in p.responses:
                try:
                    resp.signature()
                except JuraError:
                    pass
        if isinstance(p, pdu.ExtendResponsePDU):
            try:
                pdu.recorded_extender(p.raw)(1, None)
            except JuraError:
                pass


@pytest.mark.fuzz
@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data):
    _exercise(data)


@pytest.mark.fuzz
@FUZZ
@given(st.binary(max_size=200).map(lambda b: tlv.encode(0x221, b)))
def test_fuzz_random_pdu_bodies(data):
    _exercise(data)


@pytest.mark.fuzz
@FUZZ
@given(st.sampled_from(VECTOR_BYTES), st.data())
def test_fuzz_single_byte_mutations(data, draw):
    pos = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    value = draw.draw(st.integers(min_value=0, max_value=255))
    mutated = data[:pos] + bytes((value,)) + data[pos + 1 :]
    _exercise(mutated)


# -- issue 9: recorded extend responses bound to their request ------------------------------


def test_recorded_extend_response_for_another_request_is_refused():
    request = ksi_bytes("tlv/v2/extend_request.tlv")  # request id 1, aggregation time 1398866256
    ok = ksi_bytes("pdus/ok-sig-2014-04-30.1-extend_response.tlv")  # answers request id 1
    other = ksi_bytes("tlv/v2/extend_response.tlv")  # answers request id 2
    extender = pdu.recorded_extender(ok, hmac_key=KEY, request=request)
    assert extender(1398866256, None).aggregation_time == 1398866256
    with pytest.raises(BackendError) as info:
        pdu.recorded_extender(other, hmac_key=KEY, request=request)
    assert info.value.code is ErrorCode.SVC_REQUEST_ID_MISMATCH
    with pytest.raises(BackendError) as info:
        extender(1398866257, None)  # the recorded request was for another signature
    assert info.value.code is ErrorCode.SVC_REQUEST_ID_MISMATCH
    with pytest.raises(FormatError) as fmt:
        pdu.recorded_extender(ok, request=ok)  # a response is not a request
    assert fmt.value.code is ErrorCode.FMT_BAD_PDU
    # Without the request, the id cannot be known: the chain is returned and
    # the policies judge it (libksi's tables expect CAL-03/PUB-01 for these).
    assert pdu.recorded_extender(other, hmac_key=KEY)(1398866256, None) is not None


def test_absent_payload_status_reads_as_ok():
    """libksi's templates make the payload status optional (absent = OK)."""
    element = tlv.decode(ksi_bytes("pdus/ok-sig-2014-07-01.1-aggr_response.tlv"))
    children = element.children()
    payload = next(c for c in children if c.type == 0x02)
    stripped = tlv.encode(0x02, b"".join(c.raw for c in payload.children() if c.type != 0x04))
    resp = pdu.AggregationResponse.from_tlv(tlv.decode(stripped))
    assert resp.status == 0
    assert verify_signature(resp.signature(), policy="internal").ok
    ext = pdu.ExtendResponse.from_tlv(tlv.decode(tlv.encode(0x02, tlv.encode(0x01, b"\x05"))))
    assert (ext.request_id, ext.status) == (5, 0)
    # The error element's status stays mandatory (libksi: KSI_TLV_TMPL_FLG_MANDATORY).
    with pytest.raises(FormatError) as info:
        pdu.ErrorPayload.from_tlv(tlv.decode(tlv.encode(0x03, b"")))
    assert info.value.code is ErrorCode.FMT_MISSING


def test_shift_first_link_level_round_trips():
    p = pdu.parse_pdu(ksi_bytes("tlv/v2/signing-request-with-level-response.tlv"))
    assert isinstance(p, pdu.AggregationResponsePDU)
    chain = p.responses[0].aggregation_chains[0]
    raw = tlv.decode(chain.encode())
    up = tlv.decode(pdu.shift_first_link_level(raw, 3))
    assert pdu.shift_first_link_level(up, -3) == raw.raw
    with pytest.raises(FormatError):
        pdu.shift_first_link_level(raw, -1)  # below 0
    with pytest.raises(FormatError):
        pdu.shift_first_link_level(raw, 256)


@pytest.mark.parametrize("size", [0, 1, 2046, 2047, 2048, 4095, 65_000, 200_001])
@pytest.mark.parametrize(
    "algorithm", [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512, HashAlgorithm.SHA3_256]
)
def test_hmac_held_in_pieces_is_the_hmac(size: int, algorithm: HashAlgorithm):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert pdu.compute_hmac_held(algorithm, KEY, data) == pdu.compute_hmac(algorithm, KEY, data)


def test_verify_hmac_held_accepts_and_refuses_what_verify_hmac_does():
    raw = pdu.encode_aggregation_request(
        [pdu.AggregationRequest(i, Imprint.hash(b"%d" % i)) for i in range(80)],
        login_id="a",
        key=KEY,
    )
    good = pdu.parse_pdu(raw)
    pdu.verify_hmac(good, KEY, held=True)
    flipped = pdu.parse_pdu(raw[:40] + bytes((raw[40] ^ 1,)) + raw[41:])
    for parsed, key in ((good, b"another key"), (flipped, KEY)):
        for held in (False, True):
            with pytest.raises(BackendError) as info:
                pdu.verify_hmac(parsed, key, held=held)
            assert info.value.code is ErrorCode.SVC_AUTH
