"""Seal registries: memory, folder, file and HTTP (a real local http.server)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from jura_trust.certificates.registry import (
    MAX_SEAL_RECORD_SIZE,
    SEAL_ID_LENGTH,
    DirectorySealRegistry,
    FileSealRegistry,
    HttpSealRegistry,
    MemorySealRegistry,
    SealRegistry,
    open_registry,
)
from jura_trust.errors import BackendError, CertificateError, ErrorCode, FormatError

SID = bytes(range(SEAL_ID_LENGTH))
OTHER = bytes([0xEE]) * SEAL_ID_LENGTH
RECORD = b"\xa3\x01\x01\x02\x40\x03\x40"


def test_memory() -> None:
    reg = MemorySealRegistry({SID: RECORD})
    assert isinstance(reg, SealRegistry)
    assert reg.get(SID) == RECORD
    assert reg.get(OTHER) is None
    with pytest.raises(CertificateError) as info:
        reg.get(b"short")
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE


def test_directory(tmp_path: Path) -> None:
    reg = DirectorySealRegistry(tmp_path / "seals")
    assert reg.get(SID) is None
    path = reg.put(SID, RECORD)
    assert path.name == SID.hex() + ".cbor"
    assert reg.get(SID) == RECORD
    (tmp_path / "seals" / (OTHER.hex() + ".cbor")).write_bytes(b"x" * (MAX_SEAL_RECORD_SIZE + 1))
    with pytest.raises(CertificateError) as info:
        reg.get(OTHER)
    assert info.value.code is ErrorCode.CRT_TOO_LARGE
    assert isinstance(open_registry(tmp_path / "seals"), DirectorySealRegistry)


def test_file(tmp_path: Path) -> None:
    path = tmp_path / "seals.cbor"
    FileSealRegistry.write(path, {SID: RECORD})
    reg = FileSealRegistry(path)
    assert reg.get(SID) == RECORD
    assert reg.get(OTHER) is None
    assert isinstance(open_registry(path), FileSealRegistry)


@pytest.mark.parametrize("content", [b"", b"\xa0", b"\xa2gversion\x02eseals\xa0", b"\x80\x00"])
def test_bad_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.cbor"
    path.write_bytes(content)
    with pytest.raises(CertificateError) as info:
        FileSealRegistry(path).get(SID)
    assert info.value.code is ErrorCode.CRT_BAD_STRUCTURE


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as info:
        FileSealRegistry(tmp_path / "none.cbor").get(SID)
    assert info.value.code is ErrorCode.FMT_IO
    with pytest.raises(FormatError):
        open_registry(tmp_path / "none")


class _Handler(http.server.BaseHTTPRequestHandler):
    records: ClassVar[dict[str, bytes]] = {f"/seals/{SID.hex()}.cbor": RECORD}

    def do_GET(self) -> None:
        if self.path == "/seals/" + OTHER.hex() + ".cbor":
            self.send_response(500)
            self.end_headers()
            return
        if self.path.startswith("/big/"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * (MAX_SEAL_RECORD_SIZE + 10))
            return
        body = self.records.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/cbor")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_http(server: str) -> None:
    reg = HttpSealRegistry(server + "/seals/", timeout=2)
    assert reg.url_for(SID) == f"{server}/seals/{SID.hex()}.cbor"
    assert reg.get(SID) == RECORD
    assert reg.get(bytes(SEAL_ID_LENGTH)) is None
    assert isinstance(open_registry(server + "/seals"), HttpSealRegistry)


def test_http_errors(server: str) -> None:
    with pytest.raises(BackendError) as info:
        HttpSealRegistry(server + "/seals", timeout=2).get(OTHER)
    assert info.value.code is ErrorCode.SVC_BAD_RESPONSE
    with pytest.raises(CertificateError) as cinfo:
        HttpSealRegistry(server + "/big", timeout=2).get(SID)
    assert cinfo.value.code is ErrorCode.CRT_TOO_LARGE


def test_http_unreachable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError) as info:
        HttpSealRegistry(f"http://127.0.0.1:{port}", timeout=1).get(SID)
    assert info.value.code in {ErrorCode.SVC_UNAVAILABLE, ErrorCode.SVC_TIMEOUT}


@pytest.mark.parametrize("url", ["file:///etc", "ftp://x/y", "http://", "seals"])
def test_http_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        HttpSealRegistry(url)


def test_verify_through_http_registry(server: str) -> None:
    from datetime import timedelta

    from jura_trust.certificates.jt1 import issue_batch, verify_certificate
    from tests.certificates import keys
    from tests.certificates.jt1_helpers import (
        ISSUER,
        NOW,
        backend,
        document,
        trust_list,
    )

    batch = issue_batch(
        [document(), document()],
        issuer_id=ISSUER,
        private_key=keys.p256(),
        ksi=backend(),
        issued_at=NOW,
    )
    _Handler.records[f"/jt1/{batch.seal.seal_id.hex()}.cbor"] = batch.seal.encode()
    result = verify_certificate(
        batch.certificates[1].text(),
        trust_list=trust_list(),
        at=NOW + timedelta(hours=1),
        seals=HttpSealRegistry(server + "/jt1", timeout=2),
        publications_file=backend().trusted_publications_file(),
    )
    assert result.ok, result.message
