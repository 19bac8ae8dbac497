"""The ksi_http client against a stub KSI server (stdlib http.server on 127.0.0.1).

The stub answers with the embedded backend and pdu.py's encoders, and can
misbehave on demand: wrong HMAC, wrong document, missing answers, errors,
delays and dropped connections. The real service is tested in tests/service.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from jura_trust._value import evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core import tlv
from jura_trust.core.chains import AggregationChain
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import (
    AggregationRequestPDU,
    AggregationResponse,
    ErrorPayload,
    ExtendRequestPDU,
    ExtendResponse,
    Header,
    encode_aggregation_request,
    encode_aggregation_response,
    encode_error_pdu,
    encode_extend_response,
    parse_pdu,
    seal_pdu,
    shift_first_link_level,
)
from jura_trust.verify import verify_signature
from tests.vectors import ksi_bytes

KEY = b"stub-key"

Tamper = Callable[[list[AggregationResponse]], list[AggregationResponse]]


def relative(chain: AggregationChain, level: int) -> AggregationChain:
    """The chain as a PDU v2 server sends it: first link relative to the request level."""
    if not level:
        return chain
    return AggregationChain.from_tlv(
        tlv.decode(shift_first_link_level(tlv.decode(chain.encode()), -level))
    )


class Stub:
    """A KSI server in a thread, with knobs for misbehaviour."""

    def __init__(self) -> None:
        self.clock = ManualClock(1_700_000_000)
        self.backend = EmbeddedBackend(clock=self.clock)
        self.tamper: Tamper | None = None
        self.reply_key = KEY
        self.http_status = 200
        self.raw_reply: bytes | None = None
        self.delay = 0.0
        self.drop_first = 0
        self.calls = 0
        self.peers: set[tuple[str, int]] = set()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, stub.backend.publications_file_bytes)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stub.calls += 1
                stub.peers.add(self.client_address)
                if stub.drop_first > 0:
                    stub.drop_first -= 1
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                time.sleep(stub.delay)
                if stub.raw_reply is not None:
                    self._send(stub.http_status, stub.raw_reply)
                    return
                self._send(stub.http_status, stub.answer(body))

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False  # server_close() joins the request threads
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, body: bytes) -> bytes:
        out = b""
        pos = 0
        while pos < len(body):
            size = 4 + int.from_bytes(body[pos + 2 : pos + 4], "big")
            pdu = parse_pdu(body[pos : pos + size])
            pos += size
            if isinstance(pdu, AggregationRequestPDU):
                rnd = self.backend.aggregate(
                    [RoundRequest(r.request_hash, r.request_level, "stub") for r in pdu.requests]
                )
                responses = [
                    AggregationResponse(
                        r.request_id,
                        aggregation_chains=(relative(rnd.aggregation_chain(i), r.request_level),),
                        calendar_chain=rnd.calendar_chain,
                        calendar_auth_record=rnd.calendar_auth_record,
                    )
                    for i, r in enumerate(pdu.requests)
                ]
                if self.tamper is not None:
                    responses = self.tamper(responses)
                for i in range(0, max(1, len(responses)), 20):  # PDUs of at most 64 KiB
                    out += encode_aggregation_response(
                        responses[i : i + 20], login_id=pdu.header.login_id, key=self.reply_key
                    )
            else:
                assert isinstance(pdu, ExtendRequestPDU)
                replies = [
                    ExtendResponse(
                        r.request_id,
                        calendar_chain=self.backend.extend_calendar(
                            r.aggregation_time, r.publication_time
                        ),
                    )
                    for r in pdu.requests
                ]
                out += encode_extend_response(
                    replies, login_id=pdu.header.login_id, key=self.reply_key
                )
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.backend.close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def client(stub: Stub) -> Iterator[KsiHttpBackend]:
    c = KsiHttpBackend(
        stub.url + "/aggregator",
        stub.url + "/extender",
        stub.url + "/publications.bin",
        login="alice",
        key=KEY,
        timeout=2.0,
        retries=1,
        backoff=0.01,
        trust_anchors=[stub.backend.publisher_certificate],  # type: ignore[list-item]
        cert_constraints={"E": stub.backend.publisher_email},
    )
    yield c
    c.close()


def code_of(fn: Callable[[], object]) -> BackendError:
    with pytest.raises(BackendError) as info:
        fn()
    return info.value


def test_sign_many_in_one_request_over_one_connection(stub: Stub):
    imprints = [Imprint.hash(b"%d" % i) for i in range(2500)]  # several PDUs, one body
    # a generous timeout: 2,500 signatures on a loaded 2-core machine can take
    # longer than the fixture's 2 s, and a retry would be a second request
    client = KsiHttpBackend(
        stub.url + "/aggregator",
        stub.url + "/extender",
        stub.url + "/publications.bin",
        login="alice",
        key=KEY,
        timeout=60.0,
        retries=0,
        trust_anchors=[stub.backend.publisher_certificate],  # type: ignore[list-item]
        cert_constraints={"E": stub.backend.publisher_email},
    )
    sigs = client.sign_many(imprints)
    assert [s.document_hash for s in sigs] == imprints
    assert stub.calls == 1  # several PDUs (the stub runs a round per PDU), one HTTP request
    client.sign(Imprint.hash(b"again"))
    assert stub.calls == 2
    assert len(stub.peers) == 1  # keep-alive
    pubfile = client.trusted_publications_file()
    assert verify_signature(sigs[7], policy="key", publications_file=pubfile).ok
    client.close()


def test_encoded_signatures_are_checked_too(stub: Stub, client: KsiHttpBackend):
    imprints = [Imprint.hash(b"x%d" % i) for i in range(3)]
    assert len(client.sign_many_encoded(imprints)) == 3

    def swap(rs: list[AggregationResponse]) -> list[AggregationResponse]:
        return [
            evolve(rs[0], request_id=rs[1].request_id),
            evolve(rs[1], request_id=rs[0].request_id),
            *rs[2:],
        ]

    stub.tamper = swap
    assert code_of(lambda: client.sign_many_encoded(imprints)).code is ErrorCode.SVC_BAD_RESPONSE
    assert code_of(lambda: client.sign_many(imprints)).code is ErrorCode.SVC_BAD_RESPONSE


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda rs: rs[:-1], ErrorCode.SVC_REQUEST_ID_MISMATCH),  # an answer missing
        (lambda rs: [*rs, rs[0]], ErrorCode.SVC_BAD_RESPONSE),  # answered twice
        (
            lambda rs: [evolve(r, status=0x105, error_message="quota") for r in rs],
            ErrorCode.SVC_REFUSED,
        ),
        (
            lambda rs: [evolve(r, aggregation_chains=()) for r in rs],
            ErrorCode.SVC_BAD_RESPONSE,
        ),
    ],
    ids=["missing", "duplicate", "refused", "no-chain"],
)
def test_bad_answers_are_refused(
    stub: Stub, client: KsiHttpBackend, tamper: Tamper, code: ErrorCode
):
    stub.tamper = tamper
    for call in (client.sign_many, client.sign_many_encoded):
        error = code_of(lambda call=call: call([Imprint.hash(b"a"), Imprint.hash(b"b")]))
        assert error.code is code
    if code is ErrorCode.SVC_REFUSED:
        assert error.details["status"] == 0x105


def test_level_must_be_honoured(stub: Stub, client: KsiHttpBackend):
    sig = client.sign(Imprint.hash(b"root"), level=2)
    assert sig.aggregation_chains[0].links[0].level_correction >= 2
    assert verify_signature(sig, policy="internal", input_level=2).ok
    [encoded] = client.sign_many_encoded([Imprint.hash(b"root")], level=2)
    again = Signature.from_bytes(encoded)
    assert verify_signature(again, policy="internal", input_level=2).ok

    def drop_level(rs: list[AggregationResponse]) -> list[AggregationResponse]:
        rnd = stub.backend.aggregate([RoundRequest(Imprint.hash(b"root"), 0, "stub")])
        return [
            evolve(
                rs[0],
                aggregation_chains=(rnd.aggregation_chain(0),),
                calendar_chain=rnd.calendar_chain,
                calendar_auth_record=rnd.calendar_auth_record,
            )
        ]

    stub.tamper = drop_level
    assert (
        code_of(lambda: client.sign(Imprint.hash(b"root"), level=2)).code
        is ErrorCode.SVC_BAD_RESPONSE
    )


def test_wrong_response_hmac_is_an_auth_error(stub: Stub, client: KsiHttpBackend):
    stub.reply_key = b"someone else"
    for call in (client.sign_many, client.sign_many_encoded):
        assert code_of(lambda call=call: call([Imprint.hash(b"a")])).code is ErrorCode.SVC_AUTH
    assert code_of(lambda: client.extend_calendar(1_700_000_000)).code is ErrorCode.SVC_AUTH


def test_reduced_error_pdus(stub: Stub, client: KsiHttpBackend):
    stub.raw_reply = encode_error_pdu(0x221, ErrorPayload(0x102, "who are you"))
    for call in (client.sign_many, client.sign_many_encoded):
        error = code_of(lambda call=call: call([Imprint.hash(b"a")]))
        assert error.code is ErrorCode.SVC_AUTH
        assert error.details["server_message"] == "who are you"
    stub.raw_reply = encode_error_pdu(0x221, ErrorPayload(0x101, "bad"))
    assert code_of(lambda: client.sign(Imprint.hash(b"a"))).code is ErrorCode.SVC_REFUSED


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, b"", ErrorCode.SVC_UNAVAILABLE),
        (404, b"<html>not here</html>", ErrorCode.SVC_BAD_RESPONSE),
        (200, b"\x00\x01garbage", ErrorCode.SVC_BAD_RESPONSE),
    ],
)
def test_http_failures(
    stub: Stub, client: KsiHttpBackend, status: int, body: bytes, code: ErrorCode
):
    stub.http_status = status
    stub.raw_reply = body
    assert code_of(lambda: client.sign(Imprint.hash(b"a"))).code is code


def test_timeouts_are_retried_then_reported(stub: Stub):
    stub.delay = 0.6
    with KsiHttpBackend(stub.url, login="a", key=KEY, timeout=0.2, retries=1, backoff=0.01) as c:
        error = code_of(lambda: c.sign(Imprint.hash(b"slow")))
    assert error.code is ErrorCode.SVC_TIMEOUT
    assert error.details["attempts"] == 2
    assert stub.calls == 2


def test_dropped_connections_are_retried(stub: Stub, client: KsiHttpBackend):
    stub.drop_first = 1
    assert client.sign(Imprint.hash(b"retry me")).document_hash == Imprint.hash(b"retry me")
    assert stub.calls == 2


def test_connection_refused_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with KsiHttpBackend(
        f"http://127.0.0.1:{port}/", login="a", key=KEY, retries=2, backoff=0.05
    ) as c:
        started = time.monotonic()
        error = code_of(lambda: c.sign(Imprint.hash(b"a")))
    assert error.code is ErrorCode.SVC_UNAVAILABLE
    assert error.details["attempts"] == 3
    assert time.monotonic() - started >= 0.15


def test_extend_to_the_nearest_publication(stub: Stub, client: KsiHttpBackend):
    sig = client.sign(Imprint.hash(b"extend"))
    assert code_of(lambda: client.extend(sig)).code is ErrorCode.SVC_NO_PUBLICATION
    stub.clock.advance(10)
    stub.backend.sign(Imprint.hash(b"later"))
    stub.backend.publish()
    extended = client.extend(sig)
    pubfile = client.trusted_publications_file()
    assert verify_signature(extended, policy="publications-file", publications_file=pubfile).ok
    assert client.latest_publication() == pubfile.latest_publication()


def test_configuration_errors():
    with KsiHttpBackend(None, login="a", key=KEY) as c:
        assert code_of(lambda: c.sign(Imprint.hash(b"a"))).code is ErrorCode.SVC_CONFIG
        assert code_of(lambda: c.extend_calendar(5)).code is ErrorCode.SVC_CONFIG
    with KsiHttpBackend("http://127.0.0.1:1/") as c:
        assert code_of(lambda: c.sign(Imprint.hash(b"a"))).code is ErrorCode.SVC_CONFIG
    with pytest.raises(BackendError):
        KsiHttpBackend("ftp://example.invalid/", login="a", key=KEY)
    with pytest.raises(ValueError):
        KsiHttpBackend("http://h/", login="a", key="")
    with pytest.raises(ValueError):
        KsiHttpBackend("http://h/", login="a")


# -- issue 9: levels, absent statuses, request ids -----------------------------------------


def anon_client(stub: Stub) -> KsiHttpBackend:
    return KsiHttpBackend(
        stub.url + "/aggregator", stub.url + "/extender", login="anon", key=b"anon", retries=0
    )


def test_signing_request_with_level_response_vector_through_the_client(stub: Stub):
    """Guardtime's recorded answer to a level-3 request: its first link is relative (0)."""
    stub.raw_reply = ksi_bytes("tlv/v2/signing-request-with-level-response.tlv")
    imprint = Imprint.parse(
        "SHA-256:" + "6338656636643537616332386431623465393561353133393539663566636464"
    )
    with anon_client(stub) as client:
        sig = client.sign(imprint, level=3)
    assert sig.aggregation_chains[0].links[0].level_correction == 3  # as libksi's own test
    assert verify_signature(sig, policy="internal", document_hash=imprint, input_level=3).ok
    with anon_client(stub) as client:
        [encoded] = client.sign_many_encoded([imprint], level=3)
    again = Signature.from_bytes(encoded)
    assert again == sig
    assert verify_signature(again, policy="internal", input_level=3).ok


def _without_status(data: bytes) -> bytes:
    """The recorded response with its payload status element removed, re-sealed (key anon)."""
    element = tlv.decode(data)
    children = element.children()
    header = Header.from_tlv(children[0])
    body = []
    for child in children[1:-1]:
        if child.type == 0x02:
            kept = b"".join(c.raw for c in child.children() if c.type != 0x04)
            body.append(tlv.encode(0x02, kept))
        else:
            body.append(child.raw)
    return seal_pdu(element.type, header, body, b"anon", HashAlgorithm.SHA2_256)


def test_response_without_status_reads_as_ok(stub: Stub):
    """libksi reads an absent status as OK (its templates make it optional)."""
    data = _without_status(ksi_bytes("pdus/ok-sig-2014-07-01.1-aggr_response.tlv"))
    pdu = parse_pdu(data)
    (resp,) = pdu.responses  # type: ignore[union-attr]
    assert resp.status == 0
    imprint = resp.signature().document_hash
    stub.raw_reply = data
    for call in ("sign_many", "sign_many_encoded"):
        with anon_client(stub) as client:
            [answer] = getattr(client, call)([imprint])
        sig = answer if isinstance(answer, Signature) else Signature.from_bytes(answer)
        assert verify_signature(sig, policy="internal", document_hash=imprint).ok
    ext = _without_status(ksi_bytes("pdus/ok-sig-2014-04-30.1-extend_response.tlv"))
    (ext_resp,) = parse_pdu(ext).responses  # type: ignore[union-attr]
    assert ext_resp.status == 0
    stub.raw_reply = ext
    with anon_client(stub) as client:
        chain = client.extend_calendar(1398866256, 1400112000)
    assert chain.publication_time == 1400112000


def test_extend_response_for_another_request_is_refused(stub: Stub, client: KsiHttpBackend):
    stub.raw_reply = encode_extend_response(ExtendResponse(999, 0x105), login_id="alice", key=KEY)
    error = code_of(lambda: client.extend_calendar(1_700_000_000))
    assert error.code is ErrorCode.SVC_REQUEST_ID_MISMATCH
    stub.raw_reply = None
    stub.tamper = lambda rs: [evolve(rs[0], request_id=rs[0].request_id + 1000)]
    error = code_of(lambda: client.sign(Imprint.hash(b"a")))
    assert error.code is ErrorCode.SVC_REQUEST_ID_MISMATCH


def test_bulk_signer_reads_chain_facts_from_headers_and_refuses_overruns():
    """The bulk signer's chain reader (headers only) agrees with the elements, fails closed."""
    from jura_trust.backends.ksi_http import _chain_facts
    from jura_trust.errors import FormatError

    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    rnd = backend.aggregate([RoundRequest(Imprint.hash(b"%d" % i), i % 3, "x") for i in range(5)])
    for encoded in rnd.encoded_aggregation_chains():
        chain = tlv.decode(encoded)
        children = chain.children()
        expected = (
            sum(1 for c in children if c.type == 0x03),
            next(c.value for c in children if c.type == 0x05),
        )
        assert _chain_facts(chain) == expected
        body = chain.value
        for cut in (1, 3, len(body) - 1):
            # a chain whose last child is cut short, or a lone header byte
            broken = tlv.TLV(0x801, body[:cut] if cut < 4 else body[:-1], False, False, True)
            with pytest.raises(FormatError) as info:
                _chain_facts(broken)
            assert info.value.code is ErrorCode.FMT_TRUNCATED


def test_bulk_signer_reads_payloads_from_headers_and_refuses_malformed_ones():
    """The bulk signer's payload reader (headers only) keeps every check of the element reader."""
    from jura_trust.backends.ksi_http import _read_payload

    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    rnd = backend.aggregate([RoundRequest(Imprint.hash(b"p"), 0, "x")])
    chain = rnd.encoded_aggregation_chains()[0]
    shared = rnd.calendar_chain.encode() + rnd.calendar_auth_record.encode()
    rid = tlv.encode(0x01, tlv.encode_uint(7))
    ok = tlv.encode(0x04, b"")

    def payload(*parts: bytes) -> tlv.TLV:
        return tlv.decode(tlv.encode(0x02, b"".join(parts)))

    good = payload(rid, ok, chain, shared)
    request_id, answer = _read_payload(good)
    assert (request_id, answer.status, answer.message) == (7, 0, None)
    expected = [c for c in good.children() if c.type in (0x801, 0x802, 0x803, 0x804, 0x805)]
    assert [(i.type, i.raw, i.value) for i in answer.items] == [
        (c.type, c.raw, c.value) for c in expected
    ]
    # an unknown non-critical element is skipped; a status and message are read
    noted = tlv.encode(0x10, b"x", non_critical=True)
    message = tlv.encode(0x05, tlv.encode_utf8("quota"))
    refused = tlv.encode(0x04, tlv.encode_uint(0x105))
    request_id, answer = _read_payload(payload(rid, refused, message, noted))
    assert (request_id, answer.status, answer.message, answer.items) == (7, 0x105, "quota", ())

    for bad in (
        payload(rid, rid, ok, chain),  # the request id twice
        payload(ok, chain),  # no request id
        payload(rid, ok, tlv.encode(0x10, b"x"), chain),  # unknown critical element
        payload(rid, ok, chain[:-1] + b"\x00", tlv.encode(0x01, b"")[:1]),  # a cut header
        tlv.TLV(0x02, rid + ok + chain[:-3], False, False, True),  # a child overruns
        payload(tlv.encode(0x01, b"\x00\x07"), ok, chain),  # a non-minimal request id
    ):
        with pytest.raises(BackendError) as info:
            _read_payload(bad)
        assert info.value.code is ErrorCode.SVC_BAD_RESPONSE


@pytest.mark.parametrize("config", [False, True])
def test_request_body_is_what_encode_aggregation_request_makes(config: bool):
    """The client encodes each request once; its PDUs are byte for byte the encoder's."""
    client = KsiHttpBackend("http://127.0.0.1:1/aggregator", login="anon", key="anon")
    imprints = [Imprint.hash(b"%d" % i) for i in range(1500)]  # more than one PDU
    requests = client._requests(imprints, 3)
    first = client._next_ids(1)[0] + 1
    body = client._aggregation_body(requests, config)
    pdus = [element.raw for _, element in tlv.iter_sequence(body)]
    assert len(pdus) > 1
    expected: list[bytes] = []
    start = 0
    for n, pdu in enumerate(pdus):
        count = sum(1 for c in tlv.decode(pdu).children() if c.type == 0x02)
        expected.append(
            encode_aggregation_request(
                requests[start : start + count],
                login_id="anon",
                key=b"anon",
                algorithm=client.algorithm,
                instance_id=client._instance_id,
                message_id=first + n,
                config_request=config and n == len(pdus) - 1,
            )
        )
        start += count
    assert start == len(requests)
    assert pdus == expected


def test_request_hash_of_an_untrusted_algorithm_is_not_sent():
    client = KsiHttpBackend("http://127.0.0.1:1/aggregator", login="anon", key="anon")
    sha1 = Imprint.hash(b"x", HashAlgorithm.SHA1)
    with pytest.raises(ValueError, match="not trusted"):
        client._aggregation_body(client._requests([sha1], 0), False)
