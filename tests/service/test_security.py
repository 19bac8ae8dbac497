"""Bad input against the running server: it answers or closes, keeps serving, loses nothing."""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import (
    AggregationRequest,
    AggregationResponsePDU,
    ExtendRequest,
    ExtendResponsePDU,
    encode_aggregation_request,
    encode_extend_request,
    parse_pdus,
    verify_hmac,
)
from tests.service.server import KEY, LOGIN, ServerProcess

CONFIG = """
[server]
body_timeout_s = 1.0
round_ms = 1000

[publisher]
schedule = "off"

[[login]]
name = "bob"
key = "bob-secret"
rate = 1
burst = 3
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("security-home")
    config = home.parent / f"{home.name}.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    with ServerProcess(home, config=config) as srv:
        yield srv


def post(srv: ServerProcess, path: str, body: bytes) -> tuple[int, bytes]:
    host, port = srv.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/ksi-request"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def request_pdu(login: str = LOGIN, key: str = KEY, n: int = 1) -> bytes:
    requests = [AggregationRequest(i + 1, Imprint.hash(b"doc %d" % i)) for i in range(n)]
    return encode_aggregation_request(requests, login_id=login, key=key.encode())


def assert_serving(srv: ServerProcess) -> None:
    with KsiHttpBackend(srv.aggregator, srv.extender, login=LOGIN, key=KEY) as client:
        imprint = Imprint.hash(b"still serving")
        assert client.sign(imprint).document_hash == imprint


def reduced_error(body: bytes) -> int:
    (pdu,) = parse_pdus(body)
    assert isinstance(pdu, AggregationResponsePDU | ExtendResponsePDU)
    assert pdu.header is None
    assert pdu.hmac is None
    assert pdu.responses == ()
    assert pdu.error is not None
    return pdu.error.status


@pytest.mark.parametrize(("login", "key"), [(LOGIN, "not the key"), ("mallory", KEY)])
def test_bad_credentials_get_0x102_and_no_signature(server: ServerProcess, login: str, key: str):
    status, body = post(server, "/aggregator", request_pdu(login, key))
    assert status == 200
    assert reduced_error(body) == 0x102
    ext = encode_extend_request(
        ExtendRequest(1, int(time.time()) - 5), login_id=login, key=key.encode()
    )
    status, body = post(server, "/extender", ext)
    assert status == 200
    assert reduced_error(body) == 0x102


def test_valid_raw_request_is_answered_with_an_authentic_pdu(server: ServerProcess):
    status, body = post(server, "/aggregator", request_pdu(n=3))
    assert status == 200
    (pdu,) = parse_pdus(body)
    assert isinstance(pdu, AggregationResponsePDU)
    verify_hmac(pdu, KEY.encode())
    assert [r.request_id for r in pdu.responses] == [1, 2, 3]
    assert all(r.status == 0 for r in pdu.responses)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage that is not a TLV at all",
        b"\x82\x20\xff\xff" + b"\x00" * 10,  # declares 64 KiB, truncated
        request_pdu()[:-7],  # truncated valid PDU
        request_pdu() + b"\x01",  # trailing byte
        encode_extend_request(ExtendRequest(1, 5), login_id=LOGIN, key=KEY.encode()),  # wrong type
    ],
    ids=["empty", "garbage", "declared-too-long", "truncated", "trailing", "wrong-pdu-type"],
)
def test_unreadable_bodies_get_an_error_status(server: ServerProcess, body: bytes):
    status, answer = post(server, "/aggregator", body)
    assert status == 400
    assert reduced_error(answer) == 0x101
    assert_serving(server)


def test_oversize_bodies_get_413(server: ServerProcess):
    huge = b"\x00" * (1024 * 1024 + 1)
    status, answer = post(server, "/aggregator", huge)
    assert status == 413
    assert reduced_error(answer) == 0x104
    status, answer = post(server, "/extender", huge)
    assert status == 413
    assert reduced_error(answer) == 0x101
    assert_serving(server)


def test_fuzzed_pdus_never_yield_a_signature(server: ServerProcess, long_run: bool):
    rng = random.Random(4)
    valid = request_pdu(n=2)
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(2000 if long_run else 80):
            data = bytearray(valid)
            for _ in range(rng.randint(1, 4)):
                op = rng.random()
                pos = rng.randrange(len(data))
                if op < 0.6:
                    data[pos] ^= 1 << rng.randrange(8)
                elif op < 0.8:
                    del data[pos:]
                    if not data:
                        data.append(rng.randrange(256))
                else:
                    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
            conn.request("POST", "/aggregator", body=bytes(data))
            resp = conn.getresponse()
            answer = resp.read()
            if resp.will_close:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            assert resp.status in (200, 400), resp.status
            for pdu in parse_pdus(answer):
                assert isinstance(pdu, AggregationResponsePDU)
                assert all(r.status != 0 for r in pdu.responses), "a mutated PDU was signed"
    finally:
        conn.close()
    assert_serving(server)


def test_slow_clients_do_not_block_others(server: ServerProcess):
    host, port = server.url.removeprefix("http://").split(":")
    stalled: list[socket.socket] = []
    try:
        for partial in (
            b"POST /aggregator HTTP/1.1\r\nHost: x\r\n",  # headers never finish
            b"POST /aggregator HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n\x82",  # body stalls
        ):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(partial)
            stalled.append(s)
        started = time.monotonic()
        assert_serving(server)
        assert time.monotonic() - started < 5
        # The stalled body is cut off after body_timeout_s (1 s): 408 or a closed socket.
        s = stalled[1]
        s.settimeout(10)
        data = s.recv(65536)
        assert data == b"" or data.startswith(b"HTTP/1.1 408")
    finally:
        for s in stalled:
            s.close()
    assert_serving(server)


def test_rate_limit_per_login(server: ServerProcess):
    with KsiHttpBackend(server.aggregator, login="bob", key="bob-secret") as bob:
        bob.sign_many([Imprint.hash(b"one"), Imprint.hash(b"two"), Imprint.hash(b"three")])
        with pytest.raises(BackendError) as info:
            bob.sign_many([Imprint.hash(b"four"), Imprint.hash(b"five")])
        assert info.value.code is ErrorCode.SVC_REFUSED
        assert info.value.details["status"] == 0x106
    assert_serving(server)  # other logins are not limited by bob's bucket


def test_concurrent_clients_all_get_their_own_signatures(server: ServerProcess):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with KsiHttpBackend(server.aggregator, login=LOGIN, key=KEY) as client:
                imprints = [Imprint.hash(b"w%d-%d" % (n, i)) for i in range(20)]
                assert [s.document_hash for s in client.sign_many(imprints)] == imprints
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


def test_no_route_writes_files(server: ServerProcess):
    before = sorted(p.name for p in Path(server.home).iterdir())
    for method, path in (
        ("GET", "/../../etc/passwd"),
        ("PUT", "/publications.bin"),
        ("POST", "/publications.bin"),
        ("DELETE", "/aggregator"),
        ("GET", "/aggregator"),
    ):
        host, port = server.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request(method, path, body=b"x")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert resp.status in (404, 405), (method, path, resp.status)
    after = sorted(p.name for p in Path(server.home).iterdir())
    assert before == after
