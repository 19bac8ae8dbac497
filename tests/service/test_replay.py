"""Issue 15: replays refused, message ids never repeated by our client, no leaks in headers or /health."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
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
from jura_trust.service.metrics import Metrics
from jura_trust.service.rounds import ROUND_FAILED, RoundLoop
from tests.service.server import ServerProcess

CONFIG = """
[server]
round_ms = 1000

[publisher]
schedule = "off"

[[login]]
name = "carol"
key = "carol-secret"
rate = 1
burst = 3
"""
CAROL, KEY = "carol", b"carol-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("replay-home")
    config = home.parent / f"{home.name}.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    with ServerProcess(home, "--tcp-listen", "127.0.0.1:0", config=config) as srv:
        yield srv


def post(srv: ServerProcess, path: str, body: bytes) -> tuple[int, bytes, http.client.HTTPMessage]:
    host, port = srv.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/ksi-request"})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers
    finally:
        conn.close()


def aggregation_pdu(message_id: int, text: bytes = b"captured") -> bytes:
    return encode_aggregation_request(
        AggregationRequest(1, Imprint.hash(text)),
        login_id=CAROL,
        key=KEY,
        instance_id=0x5EED,
        message_id=message_id,
    )


def refused_as_replay(body: bytes, pdu_cls: type) -> None:
    (pdu,) = parse_pdus(body)
    assert isinstance(pdu, pdu_cls)
    verify_hmac(pdu, KEY)  # a proper, authenticated error PDU
    assert pdu.responses == ()  # type: ignore[attr-defined]
    assert pdu.error is not None  # type: ignore[attr-defined]
    assert pdu.error.status == 0x101  # type: ignore[attr-defined]
    assert "repeated message id" in pdu.error.message  # type: ignore[attr-defined]


def test_replays_accepted_without_limit(server: ServerProcess):
    captured = aggregation_pdu(1)
    status, body, _ = post(server, "/aggregator", captured)
    assert status == 200
    (first,) = parse_pdus(body)
    assert isinstance(first, AggregationResponsePDU)
    assert first.responses[0].status == 0
    # Three concurrent replays (the attack of the issue), then more over TCP:
    # every one refused, none signed, and none takes carol's tokens.
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: post(server, "/aggregator", captured), range(3)))
    for status, body, _ in answers:
        assert status == 200
        refused_as_replay(body, AggregationResponsePDU)
    host, port = server.tcp_url.removeprefix("ksi+tcp://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(captured)
        data = b""
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[2:4], "big"):
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    refused_as_replay(data, AggregationResponsePDU)
    # carol's burst (3) is intact after the replays: two more fresh PDUs pass.
    for message_id in (2, 3):
        status, body, _ = post(server, "/aggregator", aggregation_pdu(message_id, b"fresh"))
        (pdu,) = parse_pdus(body)
        assert isinstance(pdu, AggregationResponsePDU)
        assert pdu.error is None
        assert pdu.responses[0].status == 0


def test_extend_replays_are_refused_too(server: ServerProcess):
    captured = encode_extend_request(
        ExtendRequest(1, 1_700_000_000), login_id=CAROL, key=KEY, instance_id=9, message_id=9
    )
    _, body, _ = post(server, "/extender", captured)
    (first,) = parse_pdus(body)
    assert isinstance(first, ExtendResponsePDU)
    assert first.error is None or "repeated" not in first.error.message
    _, body, _ = post(server, "/extender", captured)
    refused_as_replay(body, ExtendResponsePDU)


def test_ksi_http_never_repeats_a_message_id(monkeypatch: pytest.MonkeyPatch):
    """Our client picks a random instance id and counts message ids; a retry gets new ones."""
    sent: list[bytes] = []
    attempts = {"n": 0}

    def once(self: KsiHttpBackend, endpoint: object, method: str, body: bytes | None):
        assert body is not None
        sent.append(body)
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ConnectionResetError("the answer was lost")
        raise ConnectionRefusedError("down")

    monkeypatch.setattr(KsiHttpBackend, "_once", once)
    with KsiHttpBackend(
        "http://127.0.0.1:9/aggregator",
        "http://127.0.0.1:9/extender",
        login="x",
        key="k",
        retries=2,
        backoff=0.0,
    ) as ksi:
        with pytest.raises(BackendError):
            ksi.sign(Imprint.hash(b"a"))
        with pytest.raises(BackendError):
            ksi.extend_calendar(1_700_000_000)
    with KsiHttpBackend("http://127.0.0.1:9/aggregator", login="x", key="k", retries=0) as other:
        with pytest.raises(BackendError):
            other.sign(Imprint.hash(b"b"))
    ids = [
        (pdu.header.instance_id, pdu.header.message_id)  # type: ignore[union-attr]
        for body in sent
        for pdu in parse_pdus(body)
    ]
    assert len(ids) == 7  # 3 + 3 attempts, then 1
    assert all(i is not None and m is not None for i, m in ids)
    assert len(set(ids)) == len(ids), ids


def test_server_header_names_no_framework_version(server: ServerProcess):
    _, _, headers = post(server, "/aggregator", aggregation_pdu(100))
    assert headers["Server"] == "jura-trust"
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    assert resp.headers["Server"] == "jura-trust"
    assert "aiohttp" not in str(resp.headers).lower()
    assert "python" not in str(resp.headers).lower()


class _LeakyBackend:
    """Closes no round: fails as a store would, with a path in its message."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)

    def close_round(self, pending: object) -> None:
        raise BackendError(
            "cannot write /srv/secret/home/calendar.sqlite: disk full", code=ErrorCode.SVC_STORE
        )


def test_last_round_error_carries_no_exception_text(tmp_path: Path):
    backend = EmbeddedBackend()

    async def scenario() -> object:
        loop = RoundLoop(
            _LeakyBackend(backend),  # type: ignore[arg-type]
            round_ms=10,
            writer=ThreadPoolExecutor(1),
            metrics=Metrics(),
        )
        task = asyncio.create_task(loop.run())
        try:
            future, _ = loop.add(RoundRequest(Imprint.hash(b"x")))
            with pytest.raises(BackendError):
                await asyncio.wait_for(future, 10)
            return loop.last_error
        finally:
            task.cancel()

    error = asyncio.run(scenario())
    assert error == {"code": "SVC-07", "message": ROUND_FAILED}
    assert "/srv" not in json.dumps(error)


def test_health_reports_no_error_text(server: ServerProcess):
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/health")
        doc = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert doc["status"] == "ok"
    assert doc["last_round_error"] is None
