"""A home held by `jura-trust serve` is not written behind its back (issue 9, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jura_trust.cli import main
from tests.service.server import KEY, LOGIN, ServerProcess


def test_publish_refused_while_serve_holds_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"signed through the service")
    with ServerProcess(home, "--round-ms", "1000", "--publish-schedule", "off") as srv:
        sign = ["sign", str(doc), "--aggregator", srv.aggregator, "--login", LOGIN, "--key", KEY]
        assert main(sign) == 0
        before = (home / "publications.bin").read_bytes()
        capsys.readouterr()

        assert main(["publish", "--home", str(home), "--json"]) == 4
        error = json.loads(capsys.readouterr().out)
        assert error["code"] == "SVC-11"
        assert str(home / "service.lock") in error["message"]
        assert (home / "publications.bin").read_bytes() == before

        # every other writer is refused the same way...
        other = tmp_path / "other.txt"
        other.write_bytes(b"not through the service")
        assert main(["sign", str(other), "--home", str(home)]) == 4
        assert "[SVC-11]" in capsys.readouterr().err
        assert not (tmp_path / "other.txt.ksig").exists()
        # ...while readers still work on the live home
        sig = str(tmp_path / "doc.txt.ksig")
        verify = ["verify", sig, "--document", str(doc), "--policy", "key", "--home", str(home)]
        assert main(verify) == 0
    # once the service stopped, the home is free again
    assert main(["publish", "--home", str(home)]) == 0
