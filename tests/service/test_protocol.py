"""Issue 9, protocol half: levels, TCP, announced configuration, hygiene, libksi's PDUs.

One real ``jura-trust serve`` (a subprocess) with HTTP and ``--tcp-listen``,
logins from a key file and from the environment, and short timeouts.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jura_trust import pki
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.core import tlv
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.core.tree import TreeBuilder
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.pdu import (
    AggregationRequest,
    AggregationRequestPDU,
    AggregationResponsePDU,
    ExtendRequest,
    ExtendRequestPDU,
    ExtendResponsePDU,
    encode_aggregation_request,
    encode_extend_request,
    parse_pdu,
    parse_pdus,
    shift_first_link_level,
    verify_hmac,
)
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.verify import verify_signature
from tests.service.server import PUBLISHER_EMAIL, ServerProcess
from tests.vectors import ksi_bytes

#: libksi's test PDUs use login "anon" with HMAC key "anon" (spec section 9).
ANON = b"anon"
CONFIG = """
[server]
body_timeout_s = 1.0
header_timeout_s = 1.0
round_ms = 1000
max_level = 32

[publisher]
schedule = "off"

[[login]]
name = "envuser"
key_env = "JT_TEST_ENVUSER_KEY"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("protocol-home")
    config = home.parent / f"{home.name}.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    key_file = home.parent / f"{home.name}.anon.key"
    key_file.write_bytes(ANON + b"\n")
    key_file.chmod(0o600)
    os.environ["JT_TEST_ENVUSER_KEY"] = "env-secret"
    try:
        srv = ServerProcess(
            home,
            "--tcp-listen",
            "127.0.0.1:0",
            "--login-file",
            f"anon:{key_file}",
            config=config,
        )
        with srv:
            assert srv.tcp_url.startswith("ksi+tcp://127.0.0.1:")
            assert srv.proc is not None
            assert not any("env-secret" in str(a) for a in srv.proc.args)  # type: ignore[union-attr]
            yield srv
    finally:
        os.environ.pop("JT_TEST_ENVUSER_KEY", None)


def trusted(srv: ServerProcess, data: bytes) -> VerifiedPublicationsFile:
    anchor = pki.load_certificate((srv.home / "publisher-cert.pem").read_bytes())
    return PublicationsFile.parse(data).trusted(
        trust_anchors=[anchor], constraints={"E": PUBLISHER_EMAIL}
    )


def client(srv: ServerProcess, transport: str, login: str = "anon", key: bytes = ANON):
    base = srv.url if transport == "http" else srv.tcp_url
    agg, ext = (base + "/aggregator", base + "/extender") if transport == "http" else (base, base)
    anchor = pki.load_certificate((srv.home / "publisher-cert.pem").read_bytes())
    return KsiHttpBackend(
        agg,
        ext,
        srv.publications,
        login=login,
        key=key,
        timeout=10.0,
        retries=0,
        trust_anchors=[anchor],
        cert_constraints={"E": PUBLISHER_EMAIL},
    )


def post(srv: ServerProcess, path: str, body: bytes) -> tuple[int, bytes]:
    host, port = srv.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/ksi-request"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def tcp_address(srv: ServerProcess) -> tuple[str, int]:
    host, port = srv.tcp_url.removeprefix("ksi+tcp://").split(":")
    return host, int(port)


def tcp_exchange(srv: ServerProcess, data: bytes, responses: int = 1) -> list[bytes]:
    """Send PDUs on one TCP connection and read ``responses`` PDUs back."""
    out: list[bytes] = []
    with socket.create_connection(tcp_address(srv), timeout=10) as sock:
        sock.sendall(data)
        buf = b""
        while len(out) < responses:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection early"
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[2:4], "big"):
                size = 4 + int.from_bytes(buf[2:4], "big")
                out.append(buf[:size])
                buf = buf[size:]
    return out


def transports() -> list[str]:
    return ["http", "tcp"]


# -- item 1: request levels ------------------------------------------------------------


@pytest.mark.parametrize("transport", transports())
def test_requests_with_level_verify_through_the_real_service(server: ServerProcess, transport):
    documents = [Imprint.hash(b"local document %d" % i) for i in range(11)]
    builder = TreeBuilder()
    for doc in documents:
        builder.add_leaf(doc)
    tree = builder.build()
    level = tree.root_level
    assert level >= 4  # a local tree of several levels
    with client(server, transport) as ksi:
        root_sig = ksi.sign(tree.root, level=level)
        [encoded] = ksi.sign_many_encoded([tree.root], level=level)
        pubfile = trusted(server, ksi.publications_file_bytes())
    for sig in (root_sig, Signature.from_bytes(encoded)):
        assert sig.aggregation_chains[0].links[0].level_correction >= level
        for policy in ("internal", "key"):
            result = verify_signature(
                sig,
                policy=policy,
                document_hash=tree.root,
                input_level=level,
                publications_file=pubfile,
            )
            assert result.outcome is Outcome.OK, result
        too_high = verify_signature(sig, policy="internal", input_level=level + 1)
        assert too_high.code is ErrorCode.GEN_03
    # A document of the local tree: its local chain, then the service's chains,
    # whose first link goes back to the correction relative to the root's level.
    service_chains = list(root_sig.aggregation_chains)
    leaf_chain = service_chains[0]
    relative = tlv.decode(shift_first_link_level(tlv.decode(leaf_chain.encode()), -level))
    service_chains[0] = type(leaf_chain).from_tlv(relative)
    for i in (0, 5, 10):
        local = tree.chain(i, root_sig.aggregation_time, leaf_chain.chain_index)
        doc_sig = Signature.build(
            [local, *service_chains],
            root_sig.calendar_chain,
            calendar_auth_record=root_sig.calendar_auth_record,
        )
        for policy in ("internal", "key"):
            result = verify_signature(
                doc_sig, policy=policy, document_hash=documents[i], publications_file=pubfile
            )
            assert result.outcome is Outcome.OK, result


def test_level_response_is_relative_on_the_wire(server: ServerProcess):
    """The server answers a level-h request with a first link relative to h (as Guardtime's)."""
    root = Imprint.hash(b"a root at level 3")
    body = encode_aggregation_request(AggregationRequest(7, root, 3), login_id="anon", key=ANON)
    status, data = post(server, "/aggregator", body)
    assert status == 200
    (pdu,) = parse_pdus(data)
    assert isinstance(pdu, AggregationResponsePDU)
    verify_hmac(pdu, ANON)
    (resp,) = pdu.responses
    assert resp.aggregation_chains[0].links[0].level_correction == 0  # the metadata link
    assert verify_signature(resp.signature(3), policy="internal", input_level=3).ok
    assert not verify_signature(resp.signature(), policy="internal").ok


# -- item 2: TCP -----------------------------------------------------------------------


def test_tcp_transport_signs_extends_and_configures(server: ServerProcess):
    imprints = [Imprint.hash(b"tcp doc %d" % i) for i in range(60)]
    with client(server, "tcp") as ksi:
        sigs = ksi.sign_many(imprints)
        assert [s.document_hash for s in sigs] == imprints
        encoded = ksi.sign_many_encoded(imprints[:20])
        assert len(encoded) == 20
        for _ in range(3):  # the connection is kept and reused
            ksi.sign(Imprint.hash(b"again"))
        pubfile = trusted(server, ksi.publications_file_bytes())
        assert verify_signature(sigs[0], policy="key", publications_file=pubfile).ok
        time.sleep(1.1)
        chain = ksi.extend_calendar(sigs[0].aggregation_time)
        assert chain.input_hash == sigs[0].aggregation_root()
        assert ksi.extender_config().calendar_last_time is not None


def test_tcp_uses_the_same_logins_and_hmacs(server: ServerProcess):
    with client(server, "tcp", login="envuser", key=b"env-secret") as ksi:
        assert ksi.sign(Imprint.hash(b"env login")).issuer == ("envuser",)
    with client(server, "tcp", key=b"wrong") as ksi:
        with pytest.raises(BackendError) as info:
            ksi.sign(Imprint.hash(b"x"))
        assert info.value.code is ErrorCode.SVC_AUTH


def test_tcp_refuses_other_pdu_types_and_closes(server: ServerProcess):
    bogus = tlv.encode(0x221, b"")  # a response type sent as a request
    (answer,) = tcp_exchange(server, bogus)
    pdu = parse_pdu(answer)
    assert pdu.error is not None and pdu.error.status == 0x101  # type: ignore[union-attr]
    with socket.create_connection(tcp_address(server), timeout=10) as sock:
        sock.sendall(bogus)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data == answer  # then the server closed the stream


def test_tcp_pipelined_pdus_are_answered_in_order(server: ServerProcess):
    agg = encode_aggregation_request(
        AggregationRequest(1, Imprint.hash(b"p1")), login_id="anon", key=ANON
    )
    ext = encode_extend_request(
        ExtendRequest(2, int(time.time()) - 3600), login_id="anon", key=ANON
    )
    answers = tcp_exchange(server, agg + ext + agg, responses=3)
    types = [parse_pdu(a).TYPE for a in answers]
    assert types == [0x221, 0x321, 0x221]


# -- replaying the reference client's recorded requests ----------------------------------


@pytest.mark.parametrize("transport", transports())
def test_replay_reference_client_requests(server: ServerProcess, transport: str):
    """libksi's recorded request PDUs (login/key anon) through the real server."""
    aggr_request = ksi_bytes("tlv/v2/aggr_request.tlv")
    extend_request = ksi_bytes("tlv/v2/extend_request.tlv")
    if transport == "http":
        status, aggr_answer = post(server, "/aggregator", aggr_request)
        assert status == 200
        status, ext_answer = post(server, "/extender", extend_request)
        assert status == 200
    else:
        (aggr_answer,) = tcp_exchange(server, aggr_request)
        (ext_answer,) = tcp_exchange(server, extend_request)
    request = parse_pdu(aggr_request)
    assert isinstance(request, AggregationRequestPDU)
    (pdu,) = parse_pdus(aggr_answer)
    assert isinstance(pdu, AggregationResponsePDU)
    verify_hmac(pdu, ANON)
    assert pdu.header is not None and pdu.header.login_id == "anon"
    (resp,) = pdu.responses
    (req,) = request.requests
    assert resp.request_id == req.request_id
    sig = resp.signature(req.request_level)
    assert sig.document_hash == req.request_hash
    with client(server, "http") as ksi:
        pubfile = trusted(server, ksi.publications_file_bytes())
    for policy in ("internal", "key"):
        result = verify_signature(
            sig, policy=policy, document_hash=req.request_hash, publications_file=pubfile
        )
        assert result.outcome is Outcome.OK, result
    ext_req = parse_pdu(extend_request)
    assert isinstance(ext_req, ExtendRequestPDU)
    (ext,) = parse_pdus(ext_answer)
    assert isinstance(ext, ExtendResponsePDU)
    verify_hmac(ext, ANON)
    (ext_resp,) = ext.responses
    assert ext_resp.request_id == ext_req.requests[0].request_id
    assert ext_resp.status == 0x105  # 2014 is before this calendar's first second


# -- item 3: the configuration response ------------------------------------------------


@pytest.mark.parametrize("transport", transports())
def test_configuration_announces_small_real_values(server: ServerProcess, transport: str):
    with client(server, transport) as ksi:
        config = ksi.aggregator_config()
        assert config.max_level is not None and config.max_level <= 17  # Guardtime's gateways
        assert 2**config.max_level <= 1 << 17  # what ksi --apply-remote-conf allocates
        assert config.aggregation_period == 1000  # 100 ms rounds, one per calendar second
        assert config.max_requests is not None and 1 <= config.max_requests <= 1024
        # Still accepted up to the configured max_level (32), above the announced one.
        sig = ksi.sign(Imprint.hash(b"deep root"), level=25)
        assert verify_signature(sig, policy="internal", input_level=25).ok
        with pytest.raises(BackendError) as info:
            ksi.sign(Imprint.hash(b"too deep"), level=33)
        assert info.value.code is ErrorCode.SVC_REFUSED


# -- item 11: service hygiene -----------------------------------------------------------


def test_wrong_pdu_type_on_an_endpoint_is_http_400(server: ServerProcess):
    ext = encode_extend_request(ExtendRequest(1, 5), login_id="anon", key=ANON)
    agg = encode_aggregation_request(
        AggregationRequest(1, Imprint.hash(b"x")), login_id="anon", key=ANON
    )
    for path, body in (("/aggregator", ext), ("/extender", agg), ("/aggregator", agg + ext)):
        status, answer = post(server, path, body)
        assert status == 400
        (pdu,) = parse_pdus(answer)
        assert pdu.hmac is None
        assert pdu.error is not None and pdu.error.status == 0x101  # type: ignore[union-attr]


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes) -> float:
    """Send ``trickle`` a byte every 0.2 s; return when the server closed the socket."""
    start = time.monotonic()
    sock.settimeout(0.2)
    i = 0
    while time.monotonic() - start < seconds:
        try:
            if i < len(trickle):
                sock.send(trickle[i : i + 1])
                i += 1
            data = sock.recv(4096)
            # Closed (b""), or a refusal answered first and then closed.
            while data:
                data = sock.recv(4096)
            return time.monotonic() - start
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    raise AssertionError(f"the connection was still open after {seconds} s")


def test_slowloris_headers_are_timed_out(server: ServerProcess):
    host, port = server.url.removeprefix("http://").split(":")
    headers = b"POST /aggregator HTTP/1.1\r\nHost: x\r\nContent-Type: application/ksi-request\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        elapsed = _closed_within(sock, 6.0, headers * 10)
    assert elapsed < 4.0  # header_timeout_s = 1 (plus aiohttp's rounding)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        elapsed = _closed_within(sock, 6.0, b"")  # idle, never sends anything
    assert elapsed < 4.0


def test_slow_bodies_and_pdus_are_timed_out(server: ServerProcess):
    host, port = server.url.removeprefix("http://").split(":")
    body = encode_aggregation_request(
        AggregationRequest(1, Imprint.hash(b"x")), login_id="anon", key=ANON
    )
    head = (
        b"POST /aggregator HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body[:10]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head)
        elapsed = _closed_within(sock, 6.0, b"")
    assert elapsed < 4.0  # body_timeout_s = 1
    with socket.create_connection(tcp_address(server), timeout=5) as sock:
        elapsed = _closed_within(sock, 6.0, body[:-5])  # a PDU that never completes
    assert elapsed < 4.0
    with socket.create_connection(tcp_address(server), timeout=5) as sock:
        elapsed = _closed_within(sock, 6.0, b"")  # idle TCP connection
    assert elapsed < 4.0


def test_login_keys_from_file_and_environment_work(server: ServerProcess, tmp_path: Path):
    with client(server, "http") as ksi:  # anon: from --login-file
        assert ksi.sign(Imprint.hash(b"file login")).issuer == ("anon",)
    with client(server, "http", login="envuser", key=b"env-secret") as ksi:  # key_env in TOML
        assert ksi.sign(Imprint.hash(b"env login")).issuer == ("envuser",)
