"""The command line against the running service (client flags) and `serve` misuse."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jura_trust.cli import main
from jura_trust.core.signature import Signature
from tests.service.server import KEY, LOGIN, PUBLISHER_EMAIL, ServerProcess


def remote(srv: ServerProcess) -> list[str]:
    return ["--login", LOGIN, "--key", KEY]


def trust(srv: ServerProcess) -> list[str]:
    return [
        "--publications-url",
        srv.publications,
        "--trust-anchor",
        str(srv.home / "publisher-cert.pem"),
        "--cert-constraint",
        f"E={PUBLISHER_EMAIL}",
    ]


def test_sign_verify_extend_through_the_service(server: ServerProcess, tmp_path: Path):
    doc = tmp_path / "report.txt"
    doc.write_bytes(b"a report signed by the Canton")
    assert main(["sign", str(doc), "--aggregator", server.aggregator, *remote(server)]) == 0
    sig = tmp_path / "report.txt.ksig"
    assert sig.exists()
    assert Signature.from_bytes(sig.read_bytes()).issuer == (LOGIN,)
    args = ["verify", str(sig), "--document", str(doc), *trust(server)]
    assert main([*args, "--policy", "key"]) == 0
    # After a publication: extend through the extender, verify with the file alone.
    deadline = time.monotonic() + 10
    while True:
        code = main(
            ["extend", str(sig), "--extender", server.extender, *remote(server), *trust(server)]
        )
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert code == 0
    assert Signature.from_bytes(sig.read_bytes()).is_extended
    assert main([*args, "--policy", "publications-file"]) == 0
    WRONG_KEY_SIGN = ["sign", "--force", "--login", LOGIN, "--key", "x"]  # noqa: N806
    # A wrong key is a service error (exit 4), not a crash.
    assert main([*WRONG_KEY_SIGN, str(doc), "--aggregator", server.aggregator]) == 4
    # Missing credentials are a usage error.
    assert main(["sign", str(doc), "--aggregator", server.aggregator]) == 64


def test_verify_can_extend_through_the_extender(server: ServerProcess, tmp_path: Path):
    doc = tmp_path / "d.txt"
    doc.write_bytes(b"calendar policy")
    assert main(["sign", str(doc), "--aggregator", server.aggregator, *remote(server)]) == 0
    sig = str(tmp_path / "d.txt.ksig")
    verify = ["verify", sig, "--policy", "calendar", "--extender", server.extender, *remote(server)]
    assert main(verify) == 0


def test_serve_refuses_to_start_without_a_login(tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    assert main(["serve", "--home", str(tmp_path / "h")]) == 4
    assert "SVC-08" in capfd.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nround_ms = -1\n")
    assert main(["serve", "--home", str(tmp_path), "--config", str(bad), "--login", "a:b"]) == 4


def test_a_second_service_on_the_same_home_is_refused(server: ServerProcess):
    second = ServerProcess(server.home)
    with pytest.raises(RuntimeError, match="another service is running"):
        second.start(timeout=15)
    second.stop()
