"""The ``qr`` and ``trustlist`` commands, called in process (no subprocess)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from jura_trust import cli
from jura_trust._timefmt import format_time
from jura_trust._value import evolve
from jura_trust.cli import qr as cli_qr
from jura_trust.cli import trustlist as cli_trustlist


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    return status, capsys.readouterr().out


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    status, out = run(capsys, *argv, "--json")
    return status, json.loads(out)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("qr")
    assert cli.main(["trustlist", "keygen", "-o", str(base / "root.pem")]) == 0
    assert cli.main(["trustlist", "keygen", "-o", str(base / "issuer.pem"), "--alg", "eddsa"]) == 0
    spec = {
        "issued_at": "2020-01-01T00:00:00Z",
        "next_update": "2099-01-01T00:00:00Z",
        "sequence": 3,
        "issuers": [
            {
                "id": "CH-JU-OP",
                "name": "Office des poursuites du Jura",
                "document_types": ["debt-register-extract"],
                "keys": [
                    {
                        "public_key": "issuer.pub.pem",
                        "not_before": "2020-01-01T00:00:00Z",
                        "not_after": "2090-01-01T00:00:00Z",
                    }
                ],
            }
        ],
    }
    (base / "spec.json").write_text(json.dumps(spec))
    assert (
        cli.main(
            [
                "trustlist",
                "build",
                str(base / "spec.json"),
                "--root-key",
                str(base / "root.pem"),
                "-o",
                str(base / "tl.cose"),
            ]
        )
        == 0
    )
    docs = [
        {
            "document_type": "debt-register-extract",
            "language": "fr",
            "valid_until": "2099-01-01T00:00:00Z",
            "fields": {
                "nom": "Muster",
                "prenom": "Hans",
                "extrait": f"2024-{i:06d}",
                "poursuites": 0,
            },
        }
        for i in range(3)
    ]
    (base / "docs.json").write_text(json.dumps(docs))
    assert (
        cli.main(
            [
                "qr",
                "issue",
                str(base / "docs.json"),
                "--issuer",
                "CH-JU-OP",
                "--key",
                str(base / "issuer.pem"),
                "--out",
                str(base / "out"),
                "--seals",
                str(base / "seals"),
                "--home",
                str(base / "home"),
                "--label",
            ]
        )
        == 0
    )
    return {"base": base}


def verify_args(base: Path, target: str, *extra: str) -> list[str]:
    at = format_time(int(time.time()) + 3600)
    assert at is not None
    return [
        "qr",
        "verify",
        target,
        "--trust-list",
        str(base / "tl.cose"),
        "--trust-root",
        str(base / "root.pub.pem"),
        "--seals",
        str(base / "seals"),
        "--home",
        str(base / "home"),
        "--at",
        at,
        *extra,
    ]


def test_issue_wrote_files(setup: dict[str, Path]) -> None:
    out = setup["base"] / "out"
    for i in range(3):
        for suffix in ("png", "svg", "txt"):
            assert (out / f"cert-{i:04d}.{suffix}").stat().st_size > 0
        assert "<svg" in (out / f"label-{i:04d}.svg").read_text()
    assert len(list(out.glob("seal-*.cbor"))) == 1
    assert len(list((setup["base"] / "seals").glob("*.cbor"))) == 1


def test_verify_text_file_json(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    status, obj = run_json(capsys, *verify_args(base, str(base / "out" / "cert-0001.txt")))
    assert status == 0, obj
    assert obj["valid"] is True
    assert obj["code"] is None
    assert obj["issuer"]["id"] == "CH-JU-OP"
    assert obj["fields"]["extrait"] == "2024-000001"
    assert obj["issued_at"] and obj["ksi_time"]


def test_verify_text_argument(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    text = (base / "out" / "cert-0002.txt").read_text().strip()
    status, out = run(capsys, *verify_args(base, text))
    assert status == 0
    assert out.startswith("VALID")


def test_verify_image(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    status, obj = run_json(capsys, *verify_args(base, str(base / "out" / "cert-0000.png")))
    assert status == 0, obj
    assert obj["valid"]


def test_verify_invalid(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    # Valid text, but at a time after the key's validity and the doc's: expired.
    args = verify_args(base, str(base / "out" / "cert-0000.txt"))
    args[-1] = "2099-06-01T00:00:00Z"
    status, obj = run_json(capsys, *args)
    assert status == 4  # the trust list itself is out of date then
    assert obj["code"] == "CRT-17"
    # No seal registry for a compact text: cannot tell (NA), a configuration
    # problem (4), never "proven invalid" (1) and never valid.
    args = verify_args(base, str(base / "out" / "cert-0000.txt"))
    i = args.index("--seals")
    del args[i : i + 2]
    status, obj = run_json(capsys, *args)
    assert status == 4
    assert obj["valid"] is False
    assert obj["outcome"] == "NA"
    assert obj["code"] == "CRT-14"
    assert obj["reason"] == "cannot check: seal registry needed (--seals)"
    assert obj["rule"] == "seal_registry_given"


def test_verify_unreadable(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    status, obj = run_json(capsys, *verify_args(base, "JT1:NOT BASE45 ::"))
    assert status == 3
    assert obj["valid"] is False
    assert obj["code"] == "CRT-02"
    status, obj = run_json(capsys, *verify_args(base, str(base / "nothing-here")))
    assert status == 3


def test_trustlist_inspect(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    status, obj = run_json(
        capsys, "trustlist", "inspect", str(base / "tl.cose"), "--root", str(base / "root.pub.pem")
    )
    assert status == 0
    assert obj["verified"] is True
    assert obj["sequence"] == 3
    assert obj["issuers"][0]["id"] == "CH-JU-OP"
    status, obj = run_json(capsys, "trustlist", "inspect", str(base / "tl.cose"))
    assert obj["verified"] is False


def test_revocation_list(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = setup["base"]
    status, issued = run_json(
        capsys,
        *verify_args(base, str(base / "out" / "cert-0001.txt")),
    )
    assert status == 0
    leaf = issued["leaf"]
    assert (
        cli.main(
            [
                "trustlist",
                "revoke",
                "--leaf",
                leaf,
                "--root-key",
                str(base / "root.pem"),
                "-o",
                str(base / "rev.cose"),
                "--issued-at",
                "2020-01-01T00:00:00Z",
                "--next-update",
                "2099-01-01T00:00:00Z",
            ]
        )
        == 0
    )
    args = verify_args(
        base, str(base / "out" / "cert-0001.txt"), "--revocations", str(base / "rev.cose")
    )
    status, obj = run_json(capsys, *args)
    assert status == 1
    assert obj["code"] == "CRT-12"
    args = verify_args(
        base, str(base / "out" / "cert-0002.txt"), "--revocations", str(base / "rev.cose")
    )
    status, obj = run_json(capsys, *args)
    assert status == 0


def test_usage_error_exits_64() -> None:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            self.exit(64, message)

    parser = Parser(prog="jura-trust")
    cli_qr.register(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["qr", "verify"])
    assert info.value.code == 64


def test_issue_paged_batch_with_options(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = setup["base"]
    status, summary = run_json(
        capsys,
        "qr",
        "issue",
        str(base / "docs.json"),
        "--issuer",
        "CH-JU-OP",
        "--key",
        str(base / "issuer.pem"),
        "--out",
        str(base / "paged"),
        "--seals",
        str(base / "paged-seals"),
        "--home",
        str(base / "home"),
        "--page-size",
        "2",
        "--mask",
        "0",
    )
    assert status == 0
    assert summary["pages"] == 2
    assert [c["page"] for c in summary["certificates"]] == [0, 0, 1]
    assert {c["mask"] for c in summary["certificates"]} == {0}
    assert {c["error_level"] for c in summary["certificates"]} == {"Q"}
    assert len(list((base / "paged-seals").glob("*.cbor"))) == 3  # seal + 2 page records
    assert len(list((base / "paged").glob("page-*.cbor"))) == 2
    for i in range(3):
        args = verify_args(base, str(base / "paged" / f"cert-{i:04d}.txt"))
        args[args.index("--seals") + 1] = str(base / "paged-seals")
        status, obj = run_json(capsys, *args)
        assert status == 0, obj
        assert obj["page"] == (0 if i < 2 else 1)
    # Without the page records the seal alone is not enough: CRT-14.
    args = verify_args(base, str(base / "paged" / "cert-0002.txt"))
    status, obj = run_json(capsys, *args)
    assert status == 1
    assert obj["code"] == "CRT-14"


def test_issue_self_contained_falls_back_to_a_lower_ecc_level(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = setup["base"]
    common = [
        "qr",
        "issue",
        str(base / "docs.json"),
        "--issuer",
        "CH-JU-OP",
        "--key",
        str(base / "issuer.pem"),
        "--home",
        str(base / "home"),
        "--self-contained",
        "--error",
        "h",
        "--mask",
        "1",
    ]
    status, summary = run_json(capsys, *common, "--out", str(base / "contained"))
    assert status == 0
    levels = {c["error_level"] for c in summary["certificates"]}
    assert levels <= {"H", "M", "L"}
    with pytest.raises(SystemExit):
        cli.main([*common, "--out", str(base / "x"), "--page-size", "0"])


def test_issue_without_seals_writes_the_registry_beside_the_certificates(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = setup["base"]
    out = base / "out-default-registry"
    status = cli.main(
        [
            "qr", "issue", str(base / "docs.json"), "--issuer", "CH-JU-OP",
            "--key", str(base / "issuer.pem"), "--out", str(out), "--home", str(base / "home"),
        ]
    )  # fmt: skip
    assert status == 0
    capsys.readouterr()
    args = verify_args(base, str(out / "cert-0001.txt"))
    args[args.index("--seals") + 1] = str(out / "seals")
    status, obj = run_json(capsys, *args)
    assert status == 0, obj
    assert obj["valid"] is True


# -- issue 8: DCC output, Aztec, internal errors, no forged facts ---------------------------


def _dcc_case(tmp_path: Path, relative: str) -> tuple[dict[str, Any], Path, str]:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.vectors import dcc_path

    case = json.loads(dcc_path(relative).read_text(encoding="utf-8"))
    der = base64.b64decode(case["TESTCTX"]["CERTIFICATE"])
    pem = tmp_path / "dsc.pem"
    pem.write_bytes(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM))
    clock = case["TESTCTX"]["VALIDATIONCLOCK"]
    return case, pem, clock


def test_qr_verify_json_dcc_with_dates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The SE/2 vector's payload holds dates: --json printed a traceback, now one object."""
    case, pem, clock = _dcc_case(tmp_path, "SE/2DCode/raw/2.json")
    args = ["qr", "verify", case["PREFIX"], "--dcc-signer-cert", str(pem), "--at", clock]
    status, obj = run_json(capsys, *args)
    assert status == 0, obj
    assert obj["valid"] is True
    assert obj["profile"] == "dcc"
    assert obj["policy"] == "dcc"
    assert obj["anchor"]["kind"] == "issuer-key"
    assert obj["issuer"]["id"] == "SE"
    assert obj["issued_at"].endswith("Z")
    assert obj["fields"]["t"][0]["sc"] == "2021-06-15T09:24:02Z"  # a CBOR datetime, as text
    assert [r["rule"] for r in obj["rules"]][-1] == "key_usage"
    status, out = run(capsys, *args)
    assert status == 0
    assert out.startswith("VALID")


def test_aztec_dcc_image_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The IE vector ships its DCC as an Aztec image, which qr verify never tried."""
    from tests.vectors import dcc_path

    _case, pem, clock = _dcc_case(tmp_path, "IE/2DCode/Raw/1.json")
    image = dcc_path("IE/png/1_aztec.png")
    status, obj = run_json(
        capsys, "qr", "verify", str(image), "--dcc-signer-cert", str(pem), "--at", clock
    )
    assert status == 0, obj
    assert obj["valid"] is True
    assert obj["issuer"]["id"] == "IE"


def test_qr_verify_internal_error_exits_70(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception is exit 70 with a message: never 1 (proven bad), no traceback."""
    base = setup["base"]

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(cli_qr, "verify_certificate", broken)
    args = verify_args(base, str(base / "out" / "cert-0000.txt"))
    status, obj = run_json(capsys, *args)
    assert status == cli_qr.EXIT_INTERNAL == 70
    assert obj["valid"] is False
    assert obj["outcome"] is None
    assert obj["code"] == "INTERNAL"
    assert "internal error (RuntimeError" in obj["message"]
    assert "something nobody expected" in obj["message"]
    capsys.readouterr()
    assert cli.main(args) == 70
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "internal error" in captured.err
    # The trustlist commands are guarded too.
    monkeypatch.setattr(cli_qr, "verify_trust_list", broken)
    monkeypatch.setattr(cli_trustlist, "verify_trust_list", broken)
    status, obj = run_json(
        capsys, "trustlist", "inspect", str(base / "tl.cose"), "--root", str(base / "root.pub.pem")
    )
    assert status == 70
    assert obj["outcome"] is None


def _forged_text(base: Path) -> str:
    """cert-0000 with 'poursuites' changed to 7: its path no longer leads to the seal."""

    from jura_trust.certificates.jt1 import Payload
    from tests.certificates.jt1_helpers import envelope_item, rebuild

    item = envelope_item((base / "out" / "cert-0000.txt").read_text().strip())
    payload = Payload.from_cbor(item[1])
    forged = evolve(payload, fields={**payload.fields, "poursuites": 7, "nom": "Forged"})
    item[1] = forged.to_cbor()
    return rebuild(item)


def test_invalid_certificate_shows_no_fields(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """An INVALID result listed the forged fields ('poursuites: 7') like a valid one."""
    base = setup["base"]
    args = verify_args(base, _forged_text(base))
    status, out = run(capsys, *args)
    assert status == 1
    assert out.startswith("INVALID [CRT-08]")
    assert "Forged" not in out
    assert "poursuites" not in out
    assert "CH-JU-OP" not in out  # not even the claimed issuer
    status, obj = run_json(capsys, *args)
    assert status == 1
    assert obj["valid"] is False
    assert obj["outcome"] == "FAIL"
    assert obj["rule"] == "path_leads_to_seal"
    assert obj["step"] == 3
    for key in ("fields", "issuer", "document_type", "issued_at", "valid_until", "leaf"):
        assert obj[key] is None, key
    assert "Forged" not in json.dumps(obj)
    assert obj["anchor"]["kind"] == "none"
    # A valid one still shows everything.
    status, obj = run_json(capsys, *verify_args(base, str(base / "out" / "cert-0000.txt")))
    assert status == 0
    assert obj["fields"]["poursuites"] == 0


def test_verify_json_lists_rule_names(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from jura_trust.certificates.jt1 import JT1_POLICY

    base = setup["base"]
    status, obj = run_json(capsys, *verify_args(base, str(base / "out" / "cert-0001.txt")))
    assert status == 0
    names = [r["rule"] for r in obj["rules"]]
    known = [rule.name for rule in JT1_POLICY.rules()]
    skipped = {"page_record_found", "page_record_matches", "revocation_list_current", "not_revoked"}
    assert names == [n for n in known if n not in skipped]
    assert {r["outcome"] for r in obj["rules"]} == {"OK"}
    assert obj["anchor"]["kind"] == "issuer-key"
    assert obj["anchor"]["issuer"]["id"] == "CH-JU-OP"
    assert obj["policy"] == "jt1"


def test_verify_a_certificate_text_longer_than_any_file_name(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A long (self-contained) text given as the argument was tried as a path:
    ENAMETOOLONG, exit 70. A text is a text, whatever its length."""
    base = setup["base"]
    common = ["qr", "issue", str(base / "docs.json"), "--issuer", "CH-JU-OP"]
    common += ["--key", str(base / "issuer.pem"), "--home", str(base / "home")]
    status, summary = run_json(capsys, *common, "--self-contained", "--out", str(base / "long"))
    assert status == 0
    text = Path(summary["certificates"][0]["text"]).read_text().strip()
    assert len(text) > 255  # longer than any file name
    status, out = run(capsys, *verify_args(base, text))
    assert status == 0, out
    assert out.startswith("VALID")
    # a long argument that is not a certificate is unreadable input, not a crash
    status, _ = run(capsys, *verify_args(base, "x" * 5000))
    assert status == 3
