"""End to end on loopback: the real server, the ksi_http client, the verification policies."""

from __future__ import annotations

import http.client
import time
import urllib.parse

import pytest

from jura_trust import pki
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.core.calendar import right_links_consistent
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, Outcome, PKIError
from jura_trust.pdu import (
    AggregationRequest,
    ExtenderStatus,
    encode_aggregation_request,
    parse_pdus,
)
from jura_trust.verify import verify_signature
from tests.service.conftest import trusted
from tests.service.server import KEY, LOGIN, ServerProcess


def wait_for_publication(client: KsiHttpBackend, at_or_after: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pubfile = client.publications_file(refresh=True)
        record = pubfile.nearest_publication(at_or_after)
        if record is not None:
            return client.trusted_publications_file(), record
        time.sleep(0.3)
    raise AssertionError(f"no publication at or after {at_or_after}")


def test_sign_verifies_key_based_at_once(client: KsiHttpBackend):
    imprint = Imprint.hash(b"extract of the debt register")
    sig = client.sign(imprint)
    assert sig.document_hash == imprint
    assert sig.issuer == (LOGIN,)
    assert sig.calendar_auth_record is not None
    result = verify_signature(
        sig,
        policy="key",
        document_hash=imprint,
        publications_file=client.trusted_publications_file(),
    )
    assert result.outcome is Outcome.OK, result
    # The bytes round-trip and verify the same way.
    again = Signature.from_bytes(sig.encode())
    assert verify_signature(
        again, policy="key", publications_file=client.trusted_publications_file()
    ).ok


def test_sign_many_is_one_round(client: KsiHttpBackend):
    imprints = [Imprint.hash(b"doc %d" % i) for i in range(300)]
    sigs = client.sign_many(imprints)
    assert [s.document_hash for s in sigs] == imprints
    assert len({s.aggregation_time for s in sigs}) == 1
    roots = {s.calendar_chain.input_hash for s in sigs if s.calendar_chain is not None}
    assert len(roots) == 1


def test_sign_many_encoded_gives_the_same_signatures(client: KsiHttpBackend):
    imprints = [Imprint.hash(b"bulk %d" % i, HashAlgorithm.SHA2_512) for i in range(50)]
    blobs = client.sign_many_encoded(imprints)
    pubfile = client.trusted_publications_file()
    for imprint, blob in zip(imprints, blobs, strict=True):
        sig = Signature.from_bytes(blob)
        assert sig.encode() == blob
        assert verify_signature(
            sig, policy="key", document_hash=imprint, publications_file=pubfile
        ).ok


def test_request_level_is_honoured(client: KsiHttpBackend):
    root = Imprint.hash(b"root of a local tree of height 3")
    sig = client.sign(root, level=3)
    assert sig.aggregation_chains[0].links[0].level_correction >= 3
    pubfile = client.trusted_publications_file()
    ok = verify_signature(sig, policy="key", input_level=3, publications_file=pubfile)
    assert ok.outcome is Outcome.OK, ok
    too_high = verify_signature(sig, policy="key", input_level=4, publications_file=pubfile)
    assert too_high.outcome is Outcome.FAIL
    assert too_high.code is ErrorCode.GEN_03


def test_level_above_the_limit_is_refused(client: KsiHttpBackend):
    with pytest.raises(BackendError) as info:
        client.sign(Imprint.hash(b"x"), level=200)
    assert info.value.code is ErrorCode.SVC_REFUSED
    assert info.value.details["status"] == 0x103


def test_config_requests_are_answered(client: KsiHttpBackend):
    agg = client.aggregator_config()
    # Rounds share no calendar second: 100 ms rounds are one per second in fact.
    assert agg.aggregation_period == 1000
    assert agg.aggregation_algorithm is HashAlgorithm.SHA2_256
    assert agg.max_level == 17
    client.sign(Imprint.hash(b"something in the calendar"))
    ext = client.extender_config()
    assert ext.calendar_first_time is not None
    assert ext.calendar_last_time is not None
    assert ext.calendar_first_time <= ext.calendar_last_time <= time.time()


def test_publish_extend_and_verify_with_the_publications_file(client: KsiHttpBackend):
    imprint = Imprint.hash(b"to be published")
    sig = client.sign(imprint)
    pubfile, record = wait_for_publication(client, sig.aggregation_time)
    extended = client.extend(sig)
    assert extended.publication_record is not None
    assert extended.publication_time == record.publication_time
    result = verify_signature(
        extended, policy="publications-file", document_hash=imprint, publications_file=pubfile
    )
    assert result.outcome is Outcome.OK, result
    # The calendar's right links did not change between the head then and now.
    assert sig.calendar_chain is not None and extended.calendar_chain is not None
    assert right_links_consistent(
        client.extend_calendar(sig.aggregation_time, sig.publication_time), sig.calendar_chain
    )
    # Verification may also extend by itself through the extender.
    unextended = verify_signature(
        sig,
        policy="publications-file",
        document_hash=imprint,
        publications_file=pubfile,
        extending_allowed=True,
        extender=client.extend_calendar,
    )
    assert unextended.outcome is Outcome.OK, unextended


def test_publications_file_download_verifies(server: ServerProcess, client: KsiHttpBackend):
    data = client.publications_file_bytes()
    pubfile = trusted(server, data)
    auth = client.sign(Imprint.hash(b"c")).calendar_auth_record
    assert auth is not None
    assert pubfile.find_certificate(auth.signature_data.certificate_id) is not None
    # Refused without trust, or with a wrong constraint.
    with KsiHttpBackend(None, None, server.publications) as bare:
        with pytest.raises(PKIError) as info:
            bare.publications_file()
        assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED
    anchor = pki.load_certificate((server.home / "publisher-cert.pem").read_bytes())
    with KsiHttpBackend(
        None,
        None,
        server.publications,
        trust_anchors=[anchor],
        cert_constraints={"E": "someone@else.invalid"},
    ) as wrong:
        with pytest.raises(PKIError) as info:
            wrong.publications_file()
        assert info.value.code is ErrorCode.PKI_CONSTRAINT


def test_extender_status_codes(client: KsiHttpBackend):
    sig = client.sign(Imprint.hash(b"extend me"))
    t = sig.aggregation_time
    head = client.extender_config().calendar_last_time
    assert head is not None
    chain = client.extend_calendar(t)
    assert chain.aggregation_time == t and chain.publication_time >= t
    cases = [
        ((t, t - 1), ExtenderStatus.INVALID_TIME_RANGE),
        ((t, int(time.time()) + 3600), ExtenderStatus.REQUEST_TIME_IN_FUTURE),
        ((1, None), ExtenderStatus.REQUEST_TIME_TOO_OLD),
    ]
    for (aggregation_time, publication_time), status in cases:
        with pytest.raises(BackendError) as info:
            client.extend_calendar(aggregation_time, publication_time)
        assert info.value.code is ErrorCode.SVC_REFUSED
        assert info.value.details["status"] == status


def test_unknown_login_and_wrong_key_get_no_signature(server: ServerProcess):
    for login, key in (("mallory", "alice-secret"), (LOGIN, "wrong key")):
        with KsiHttpBackend(server.aggregator, server.extender, login=login, key=key) as bad:
            with pytest.raises(BackendError) as info:
                bad.sign(Imprint.hash(b"forged"))
            assert info.value.code is ErrorCode.SVC_AUTH
            assert info.value.details["status"] == 0x102
            with pytest.raises(BackendError) as info:
                bad.extend_calendar(int(time.time()) - 1)
            assert info.value.code is ErrorCode.SVC_AUTH


def test_health_and_metrics(server: ServerProcess, client: KsiHttpBackend):
    import json
    import urllib.request

    client.sign(Imprint.hash(b"counted"))
    with urllib.request.urlopen(server.url + "/health", timeout=5) as resp:
        health = json.loads(resp.read())
    assert health["status"] == "ok"
    assert health["calendar_head"] >= health["calendar_first"]
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert "jura_trust_rounds_total" in text
    assert 'jura_trust_http_requests_total{endpoint="aggregator",outcome="ok"}' in text
    assert "jura_trust_round_size_bucket" in text


@pytest.mark.parametrize("n", [3, 200])
def test_a_sealed_answer_has_its_content_type_and_length(server: ServerProcess, n: int):
    """Sent as one Response (at most 128 KiB) or in slices: the same headers, the whole body."""
    body = encode_aggregation_request(
        [AggregationRequest(i + 1, Imprint.hash(b"%d headers %d" % (n, i))) for i in range(n)],
        login_id=LOGIN,
        key=KEY.encode(),
        instance_id=7,
        message_id=n,
    )
    url = urllib.parse.urlsplit(server.aggregator)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request("POST", url.path, body=body)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/ksi-response"
    assert resp.getheader("Content-Length") == str(len(data))
    assert (len(data) > 128 << 10) == (n == 200)  # one slice, or several
    responses = [r for pdu in parse_pdus(data) for r in pdu.responses]
    assert [(r.request_id, r.status) for r in responses] == [(i + 1, 0) for i in range(n)]
