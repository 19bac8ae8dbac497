"""Issue 11 items 4-8 at the command line: trust pin, batch verification, one JSON form
(schemas shipped in the package), --version, closed pipes, --force, messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from jura_trust import cli
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

T0 = 1_700_000_000
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _schemas() -> dict[str, Any]:
    folder = resources.files("jura_trust") / "schemas"
    return {p.name: json.loads(p.read_text()) for p in folder.iterdir() if p.name.endswith(".json")}


def validate(name: str, obj: Any) -> None:
    schemas = _schemas()
    registry = referencing.Registry().with_resources(
        (
            n,
            referencing.Resource.from_contents(
                s, default_specification=referencing.jsonschema.DRAFT202012
            ),
        )
        for n, s in schemas.items()
    )
    jsonschema.Draft202012Validator(schemas[name], registry=registry).validate(obj)


def times_are_iso(obj: Any, path: str = "") -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if (key.endswith(("_time", "_at")) or key == "at") and value is not None:
                assert isinstance(value, str) and ISO_Z.match(value), f"{path}.{key} = {value!r}"
            times_are_iso(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            times_are_iso(item, f"{path}[{i}]")


@pytest.fixture
def run(monkeypatch, capsys, tmp_path):
    clock = ManualClock(T0)
    monkeypatch.setattr(
        cli, "EmbeddedBackend", lambda home, **kw: EmbeddedBackend(home, clock=clock, **kw)
    )

    def _run(*argv: object) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return rc, out, err

    _run.clock = clock  # type: ignore[attr-defined]
    return _run


def lines(out: str) -> list[Any]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def test_item6_every_command_json_matches_its_schema_and_times_are_iso_z(run, tmp_path):
    home = tmp_path / "home"
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"receipt")
    rc, out, _ = run("sign", doc, "--home", home, "--json")
    assert rc == 0
    outputs = [("sign.json", json.loads(out))]
    rc, out, _ = run("verify", f"{doc}.ksig", "--home", home, "--json")
    assert rc == 0
    outputs += [("verify.json", o) for o in lines(out)]
    rc, out, _ = run(
        "verify", f"{doc}.ksig", "--home", home, "--json", "--policy", "publications-file"
    )
    assert rc == 2  # NA: nothing published yet
    outputs += [("verify.json", o) for o in lines(out)]
    rc, out, _ = run("verify", tmp_path / "missing.ksig", "--home", home, "--json")
    assert rc == 3
    outputs += [("verify.json", o) for o in lines(out)]
    run.clock.advance(10)  # type: ignore[attr-defined]
    rc, out, _ = run("publish", "--home", home, "--json")
    assert rc == 0
    outputs.append(("publish.json", json.loads(out)))
    rc, out, _ = run("publication", "--home", home, "--json")
    outputs.append(("publication.json", json.loads(out)))
    rc, out, _ = run("extend", f"{doc}.ksig", "--home", home, "--json")
    assert rc == 0
    outputs.append(("extend.json", json.loads(out)))
    rc, out, _ = run("inspect", f"{doc}.ksig", "--json")
    outputs.append(("inspect.json", json.loads(out)))
    rc, out, _ = run("qr", "verify", "JT1:NOTHING", "--json")
    assert rc == 4
    outputs += [("qr-verify.json", o) for o in lines(out)]
    rc, out, _ = run("publication", "--home", tmp_path / "empty", "--json")
    assert rc == 4
    outputs.append(("publication.json", json.loads(out)))
    for name, obj in outputs:
        validate(name, obj)
        times_are_iso(obj)


def test_item6_a_configuration_error_has_one_shape_in_verify_and_qr_verify(run, tmp_path):
    _, out, _ = run("verify", tmp_path / "missing.ksig", "--json")
    (a,) = lines(out)
    _, out, _ = run("qr", "verify", "JT1:X", "--json")
    (b,) = lines(out)
    for obj in (a, b):
        assert obj["outcome"] is None and obj["valid"] is False and obj["code"]
        validate("error.json", obj)


def test_item6_version_is_printed():
    proc = subprocess.run(
        [sys.executable, "-m", "jura_trust.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert re.match(r"^jura-trust \d", proc.stdout)


def test_item6_closed_pipe_is_not_a_traceback(tmp_path):
    sigs = tmp_path / "many"
    sigs.mkdir()
    vector = (
        Path(__file__).parent
        / "vectors"
        / "ksi"
        / "signatures"
        / "valid"
        / "ok-sig-2014-04-30.1.ksig"
    )
    for i in range(200):
        (sigs / f"s{i:03d}.ksig").write_bytes(vector.read_bytes())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jura_trust.cli",
            "verify",
            str(sigs),
            "--policy",
            "internal",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # as `| head -1`
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err
    assert b"BrokenPipe" not in err
    assert proc.returncode == 141


def test_item6_sign_does_not_overwrite_an_existing_ksig_without_force(run, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"first")
    assert run("sign", doc, "--home", tmp_path / "h")[0] == 0
    before = Path(f"{doc}.ksig").read_bytes()
    rc, _, err = run("sign", doc, "--home", tmp_path / "h")
    assert rc == 64 and "--force" in err
    assert Path(f"{doc}.ksig").read_bytes() == before
    assert run("sign", doc, "--home", tmp_path / "h", "--force")[0] == 0
    assert Path(f"{doc}.ksig").read_bytes() != before


def test_item5_batch_verify_files_and_directories_one_line_each_worst_status(run, tmp_path):
    home = tmp_path / "home"
    folder = tmp_path / "archive"
    (folder / "sub").mkdir(parents=True)
    docs = [folder / "a.txt", folder / "sub" / "b.txt"]
    for d in docs:
        d.write_bytes(d.name.encode())
    assert run("sign", *docs, "--home", home)[0] == 0
    rc, out, _ = run("verify", folder, "--home", home, "--policy", "key")
    assert rc == 0
    assert out.count("OK: ") == 2 and "2 file(s): 2 OK" in out
    docs[1].write_bytes(b"changed")  # the document beside b.txt.ksig no longer matches
    (folder / "broken.ksig").write_bytes(b"not a signature")
    rc, out, _ = run("verify", folder, "--home", home, "--policy", "key", "--json")
    objs = lines(out)
    assert len(objs) == 3  # one JSON object per line, per file
    by_file = {Path(o["file"]).name: o for o in objs}
    assert by_file["a.txt.ksig"]["outcome"] == "OK"
    assert by_file["b.txt.ksig"]["outcome"] == "FAIL"
    assert by_file["broken.ksig"]["outcome"] is None
    assert rc == 1  # the worst: a proven FAIL outranks unreadable (3) and OK
    rc, _, _ = run(
        "verify", folder / "a.txt.ksig", folder / "broken.ksig", "--home", home, "--policy", "key"
    )
    assert rc == 3


def test_item7_missing_trust_root_is_not_trust_list_out_of_date(run, tmp_path):
    rc, out, _ = run("qr", "verify", "JT1:ABC", "--trust-list", tmp_path / "tl.cose", "--json")
    (obj,) = lines(out)
    assert rc == 4
    assert obj["code"] == "CRT-21"
    assert "--trust-root" in obj["message"]
    assert "out of date" not in obj["message"]


def test_item7_service_without_the_extra_says_which_extra(tmp_path):
    script = (
        "import sys, runpy; sys.modules['aiohttp'] = None; "
        "sys.argv = ['x', '--listen', '127.0.0.1:0']; "
        "runpy.run_module('jura_trust.service', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 4
    assert "pip install 'jura-trust[service]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_item4_trust_pin_records_file_and_certificate_and_verify_uses_them(
    ksi_service, tmp_path, monkeypatch, capsys
):
    config = tmp_path / "config" / "jura-trust" / "config.toml"
    monkeypatch.setenv("JURA_TRUST_CONFIG", str(config))
    monkeypatch.setenv("SERVICE_KEY", ksi_service.key)
    rc = cli.main(
        [
            "trust",
            "pin",
            ksi_service.url,
            "--login",
            ksi_service.login,
            "--key-env",
            "SERVICE_KEY",
            "--json",
        ]
    )
    pinned = json.loads(capsys.readouterr().out)
    assert rc == 0
    validate("trust-pin.json", pinned)
    text = config.read_text()
    assert ksi_service.key not in text  # the key itself is never written
    assert 'key_env = "SERVICE_KEY"' in text
    # a wrong expected fingerprint pins nothing
    other = tmp_path / "other.toml"
    assert (
        cli.main(
            [
                "trust",
                "pin",
                ksi_service.url,
                "--config-file",
                str(other),
                "--fingerprint",
                "00" * 32,
            ]
        )
        == 4
    )
    assert not other.exists()
    # sign through the configured service (no flags), then verify with the pinned trust
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"pinned")
    monkeypatch.delenv("JURA_TRUST_HOME", raising=False)
    assert cli.main(["sign", str(doc)]) == 0
    capsys.readouterr()
    import time

    deadline = time.monotonic() + 30
    while True:  # the service publishes every 2 s; re-pin to get the new file
        cli.main(
            [
                "trust",
                "pin",
                ksi_service.url,
                "--login",
                ksi_service.login,
                "--key-env",
                "SERVICE_KEY",
            ]
        )
        rc = cli.main(["extend", f"{doc}.ksig"])
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert rc == 0
    cli.main(
        ["trust", "pin", ksi_service.url, "--login", ksi_service.login, "--key-env", "SERVICE_KEY"]
    )
    capsys.readouterr()
    rc = cli.main(["verify", f"{doc}.ksig", "--policy", "publications-file", "--json"])
    (obj,) = lines(capsys.readouterr().out)
    assert rc == 0, obj
    assert "pinned publications file" in json.dumps(obj) or obj["outcome"] == "OK"
    # the pinned certificate replaced behind our back: refused, naming the setting
    cert = next((config.parent / "pins").glob("*-publisher.pem"))
    cert.write_bytes(
        (Path(__file__).parent / "vectors" / "ksi" / "certs" / "mock.crt").read_bytes()
    )
    rc = cli.main(["verify", f"{doc}.ksig", "--policy", "publications-file"])
    err = capsys.readouterr().err
    assert rc == 4
    assert "trust.fingerprint" in err and "trust pin" in err
