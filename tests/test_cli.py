"""The ``jura-trust`` command: sign, verify, extend, inspect, publication, publish, demo.

Most tests call :func:`jura_trust.cli.main` in process, with the embedded
backend on a :class:`ManualClock` (so rounds and publications fall on known
seconds) and a home in ``tmp_path``; one test runs the installed command in
fresh processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from jura_trust import cli
from jura_trust._timefmt import format_time
from jura_trust._value import evolve
from jura_trust.api import hash_file, load_signature
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.publication import decode_publication_string
from tests.vectors import ksi_path

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
EMAIL_OID = "1.2.840.113549.1.9.1"
GT_CONSTRAINT = f"{EMAIL_OID}=publications@guardtime.com"
DOC = b"Extrait du registre des poursuites\nStatut: aucune poursuite en cours\n"

V_OK = "signatures/valid/ok-sig-2014-04-30.1.ksig"
V_LAPTOP = "SHA-256:11a700b0c8066c47ecba05ed37bc14dcadb238552d86c659342d1d7e87b8772d"
V_UNANCHORED = "signatures/valid/ok-sig-2014-04-30.1-extended_1400112000.ksig"
V_RFC3161_EXT = (
    "signatures/valid/rfc3161-signature-extended-for-publication-file-based-verification.ksig"
)


@attrs.frozen
class Run:
    rc: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _runner(capsys):
    """``main(argv)`` in process, returning its status and captured output."""

    def _run(*argv: object) -> Run:
        capsys.readouterr()
        rc = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Run(rc, out, err)

    return _run


@pytest.fixture
def run(monkeypatch, capsys, clock, tmp_path):
    """``run(*argv)``: main() in process; the backend runs on ``clock``."""
    monkeypatch.delenv(cli.HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(
        cli, "EmbeddedBackend", lambda home, **kw: EmbeddedBackend(home, clock=clock, **kw)
    )

    return _runner(capsys)


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def doc(tmp_path) -> Path:
    path = tmp_path / "extract.txt"
    path.write_bytes(DOC)
    return path


def gt_trust(*extra: str) -> list[str]:
    return [
        "--publications-file",
        str(ksi_path("pubfiles/publications.tlv")),
        "--trust-anchor",
        str(ksi_path("certs/mock.crt")),
        "--cert-constraint",
        GT_CONSTRAINT,
        *extra,
    ]


# -- sign -------------------------------------------------------------------------------


def test_sign_writes_ksig_beside_each_file_in_one_round(run, home, tmp_path):
    (tmp_path / "sub").mkdir()
    files = [tmp_path / "a.pdf", tmp_path / "sub" / "b.txt", tmp_path / "c"]
    for i, f in enumerate(files):
        f.write_bytes(b"document %d" % i)
    r = run("sign", *files, "--home", home, "--json")
    assert r.rc == 0, r.err
    signed = r.json["signed"]
    assert [s["signature"] for s in signed] == [str(f) + ".ksig" for f in files]
    sigs = [load_signature(f"{f}.ksig") for f in files]
    assert {s.aggregation_time for s in sigs} == {T0}
    assert len({s.calendar_chain for s in sigs}) == 1  # one round, one calendar second
    for f, s, entry in zip(files, sigs, signed, strict=True):
        assert s.document_hash == hash_file(f)
        assert entry["document_hash"] == str(s.document_hash)
        assert entry["aggregation_time"] == "2023-11-14T22:13:20Z"
    with EmbeddedBackend(home, clock=ManualClock(T0)) as b:
        assert b.calendar_first == b.calendar_head == T0

    human = run("sign", files[0], "--home", home, "--force")
    assert human.rc == 0
    assert human.out.strip() == f"signed {files[0]} -> {files[0]}.ksig at 2023-11-14T22:13:21Z"


def test_sign_with_sha3_and_verify_by_document_hash(run, home, doc):
    assert run("sign", doc, "--hash", "SHA3-256", "--home", home).rc == 0
    sig = load_signature(f"{doc}.ksig")
    digest = Imprint.hash(DOC, HashAlgorithm.SHA3_256).digest.hex()
    assert sig.document_hash.algorithm is HashAlgorithm.SHA3_256
    ok = run("verify", f"{doc}.ksig", "--document-hash", f"SHA3-256:{digest}", "--home", home)
    assert ok.rc == 0, ok.out
    assert run("verify", f"{doc}.ksig", "--document", doc, "--home", home).rc == 0
    other = Imprint.hash(b"other", HashAlgorithm.SHA3_256).digest.hex()
    bad = run("verify", f"{doc}.ksig", "--document-hash", f"SHA3-256:{other}", "--home", home)
    assert bad.rc == 1
    assert bad.out.startswith("FAIL [GEN-01]")


# -- the round trip, as the quick start tells it ---------------------------------------


def test_round_trip_key_then_publication(run, home, doc, clock):
    ksig = f"{doc}.ksig"
    assert run("sign", doc, "--home", home).rc == 0

    key = run("verify", ksig, "--document", doc, "--policy", "key", "--home", home)
    assert key.rc == 0, key.out
    assert key.out.splitlines()[0] == "OK: verified (key policy)"
    assert "signed at   2023-11-14T22:13:20Z" in key.out
    assert "issuer      jura-trust" in key.out
    general = run("verify", ksig, "--document", doc, "--home", home, "--json")
    assert (general.rc, general.json["outcome"]) == (0, "OK")

    clock.advance(3600)
    pub = run("publish", "--home", home, "--json")
    assert pub.rc == 0
    assert pub.json["publication_time_unix"] == T0
    text = run("publication", "--home", home).out.strip()
    assert text == pub.json["publication_string"]

    ext = run("extend", ksig, "--home", home)
    assert ext.rc == 0, ext.err
    assert ext.out.strip() == f"extended {ksig} to 2023-11-14T22:13:20Z -> {ksig}"
    assert load_signature(ksig).is_extended

    pubf = run("verify", ksig, "--document", doc, "--policy", "publications-file", "--home", home)
    assert pubf.rc == 0, pubf.out
    user = run(
        "verify", ksig, "--document", doc, "--policy", "user-publication",
        "--publication-string", text, "--home", home, "--json",
    )  # fmt: skip
    assert (user.rc, user.json["outcome"], user.json["extended"]) == (0, "OK", True)

    # one altered byte of the document: GEN-01, exit 1
    altered = bytearray(DOC)
    altered[10] ^= 0x20
    doc.write_bytes(bytes(altered))
    for policy in ("general", "key", "publications-file", "user-publication", "internal"):
        r = run(
            "verify", ksig, "--document", doc, "--policy", policy,
            "--publication-string", text, "--home", home, "--json",
        )  # fmt: skip
        assert (r.rc, r.json["outcome"], r.json["code"]) == (1, "FAIL", "GEN-01"), policy


def test_altered_signature_is_fail_or_format_error_never_ok(run, home, doc, tmp_path):
    assert run("sign", doc, "--home", home).rc == 0
    data = Path(f"{doc}.ksig").read_bytes()
    bad = tmp_path / "bad.ksig"
    seen = set()
    for pos in range(3, len(data), len(data) // 24):
        altered = bytearray(data)
        altered[pos] ^= 0x5A
        bad.write_bytes(bytes(altered))
        r = run("verify", bad, "--document", doc, "--home", home, "--json")
        assert r.rc in (1, 2, 3), pos
        if r.rc == 1:
            assert r.json["outcome"] == "FAIL" and r.json["code"], pos
        if r.rc == 3:
            assert r.json["code"].startswith("FMT-"), pos
        seen.add(r.rc)
    assert {1, 3} <= seen


# -- verify: --json and exit statuses ---------------------------------------------------


def test_verify_json_fields(run, home, doc):
    assert run("sign", doc, "--home", home).rc == 0
    r = run("verify", f"{doc}.ksig", "--document", doc, "--home", home, "--json")
    assert r.rc == 0
    obj = r.json
    sig = load_signature(f"{doc}.ksig")
    assert obj["outcome"] == "OK"
    assert obj["code"] is None
    assert obj["message"] == "verified"
    assert obj["policy"] == "general"
    assert obj["aggregation_time_unix"] == T0
    assert obj["aggregation_time"] == "2023-11-14T22:13:20Z"
    assert obj["document_hash"] == str(Imprint.hash(DOC)) == str(sig.document_hash)
    assert obj["document_hash"].startswith("SHA-256:")
    assert obj["issuer"] == ["jura-trust"]
    assert obj["extended"] is False
    assert obj["publication_time_unix"] == T0
    rules = obj["rules"]
    assert {"rule", "outcome", "code", "message"} <= set(rules[0])
    names = [x["rule"] for x in rules]
    assert "document_hash" in names and "calendar_auth_signature" in names
    assert rules[-1]["outcome"] == "OK"


def test_verify_verbose_lists_every_rule(run, home, doc):
    run("sign", doc, "--home", home)
    plain = run("verify", f"{doc}.ksig", "--home", home)
    verbose = run("verify", f"{doc}.ksig", "--home", home, "-v")
    assert verbose.rc == plain.rc == 0
    assert "calendar_auth_signature" not in plain.out
    assert "OK   calendar_auth_signature" in verbose.out
    assert "NA   suitable_publication [GEN-02]" in verbose.out


def test_exit_2_na_with_real_causes(run, home, doc, tmp_path, clock):
    ksig = f"{doc}.ksig"
    run("sign", doc, "--home", home)
    # another backend's trust material does not know this calendar key
    r = run("verify", ksig, "--home", tmp_path / "other-home", "--json")
    assert (r.rc, r.json["outcome"], r.json["code"]) == (2, "NA", "GEN-02")
    assert "not found" in r.json["message"]
    # a publication exists, but extending is not allowed
    clock.advance(5)
    run("publish", "--home", home)
    r = run("verify", ksig, "--policy", "publications-file", "--home", home)
    assert r.rc == 2
    assert r.out.startswith("NA (inconclusive) [GEN-02]: extending is not permitted")
    r = run("verify", ksig, "--policy", "publications-file", "--home", home, "--extending-allowed")
    assert r.rc == 0


def test_exit_3_unreadable_input(run, home, doc, tmp_path):
    run("sign", doc, "--home", home)
    ksig = f"{doc}.ksig"
    garbage = tmp_path / "garbage.ksig"
    garbage.write_bytes(b"\x08\x00\x00\x10not a signature")
    cases = {
        "FMT-19": ["verify", tmp_path / "missing.ksig"],
        "FMT-05": [
            "verify",
            ksi_path("signatures/invalid/invalid-signature-aggr-chain-input-hash-missing-tag.tlv"),
        ],
        "FMT-08": ["verify", ksig, "--document-hash", "SHA-256:abcd"],
        "FMT-11": ["verify", ksig, "--publication-string", "AAAAAA-BROKEN"],
        "FMT-17": ["verify", ksig, "--at", "next tuesday"],
        "FMT-18": ["verify", ksig, *gt_trust("--cert-constraint", "no-equals-sign")],
    }
    for code, argv in cases.items():
        r = run(*argv, "--home", home, "--json")
        assert r.rc == 3, (code, r)
        obj = r.json
        assert obj["code"] == code
        assert obj["outcome"] is None
        assert obj["error"]["family"] == "FMT"
        assert {"message", "aggregation_time", "document_hash", "rules"} <= set(obj)
    r = run("verify", ksig, "--document", tmp_path / "missing.txt", "--home", home)
    assert r.rc == 3
    assert r.err.startswith("jura-trust: error [FMT-19]: cannot read")
    assert r.out == ""
    r = run("verify", garbage, "--home", home)
    assert r.rc == 3 and "[FMT-" in r.err
    assert run("inspect", garbage).rc == 3
    assert run("extend", tmp_path / "missing.ksig", "--home", home).rc == 3
    assert run("sign", tmp_path / "missing.txt", "--home", home).rc == 3


def test_exit_4_service_and_trust_errors(run, home, doc):
    # read-only commands never create state (keys) in a home that has none
    r = run("publication", "--home", home, "--json")
    assert (r.rc, r.json["code"]) == (4, "SVC-08")
    assert not home.exists()
    run("sign", doc, "--home", home)
    ksig = f"{doc}.ksig"
    r = run("publication", "--home", home, "--json")
    assert (r.rc, r.json["code"]) == (4, "SVC-09")
    r = run("extend", ksig, "--home", home)
    assert r.rc == 4 and "[SVC-09]" in r.err
    r = run("publish", "--at", T0 + 10, "--home", home)  # after the calendar head
    assert r.rc == 4 and "[SVC-09]" in r.err
    run("publish", "--home", home)
    r = run("extend", ksi_path(V_OK), "-o", doc.parent / "x.ksig", "--home", home)
    assert r.rc == 4 and "[SVC-06]" in r.err  # a 2014 signature is not in this calendar
    sha1 = run("sign", doc, "--hash", "SHA-1", "--home", home, "--force")
    assert sha1.rc == 4 and "[SVC-05]" in sha1.err


def test_exit_64_usage_errors(run, home, doc):
    run("sign", doc, "--home", home)
    ksig = f"{doc}.ksig"
    cases = [
        [],
        ["frobnicate"],
        ["sign", "--home", home],
        ["verify", ksig, "--policy", "lenient"],
        ["verify", ksig, "--document", doc, "--document-hash", str(Imprint.hash(DOC))],
        ["verify", ksig, "--input-level", "two"],
        ["verify", ksig, "--input-level", "-1", "--home", home],
        ["sign", doc, "--hash", "MD5", "--home", home],
    ]
    for argv in cases:
        try:
            rc = run(*argv).rc
        except SystemExit as exc:  # argparse exits through the parser
            rc = exc.code
        assert rc == 64, argv


# -- homes: --home and JURA_TRUST_HOME --------------------------------------------------


def test_jura_trust_home_environment_variable(run, monkeypatch, tmp_path, doc):
    env_home = tmp_path / "env-home"
    monkeypatch.setenv(cli.HOME_ENV, str(env_home))
    assert run("sign", doc).rc == 0
    assert (env_home / "calendar.sqlite").is_file()
    assert run("verify", f"{doc}.ksig", "--document", doc, "--policy", "key").rc == 0
    pub = run("publish", "--json")
    assert pub.rc == 0
    assert run("publication").out.strip() == pub.json["publication_string"]
    # --home wins over the variable: that home has no state, and a read-only
    # command does not create any
    other = tmp_path / "other"
    assert run("publication", "--home", other).rc == 4
    assert not other.exists()
    assert not (tmp_path / "xdg").exists()


def test_default_home_follows_xdg_data_home(run, tmp_path, doc):
    assert cli.default_home() == tmp_path / "xdg" / "jura-trust"
    assert run("sign", doc).rc == 0
    assert (tmp_path / "xdg" / "jura-trust" / "calendar.sqlite").is_file()


# -- times: ISO 8601 and Unix seconds ---------------------------------------------------


def test_publish_and_extend_accept_iso_and_unix_times(run, home, doc, tmp_path):
    for _ in range(4):  # rounds at T0 .. T0+3 (the manual clock moves on)
        assert run("sign", doc, "--home", home, "--force").rc == 0
    first = tmp_path / "first.ksig"
    Path(f"{doc}.ksig").rename(first)  # the last round, T0+3
    assert load_signature(first).aggregation_time == T0 + 3
    run("sign", doc, "--home", home)  # T0+4
    run("sign", doc, "--home", home, "--force")  # T0+5
    published = {}
    for when, expected in [
        ("1700000003", T0 + 3),
        ("2023-11-14T22:13:24Z", T0 + 4),
        ("2023-11-14T23:13:25+01:00", T0 + 5),
    ]:
        r = run("publish", "--at", when, "--home", home, "--json")
        assert r.rc == 0, r.err
        assert r.json["publication_time_unix"] == expected
        published[expected] = r.json["publication_string"]

    for when, expected in [
        ("2023-11-14T22:13:24Z", T0 + 4),
        ("1700000005", T0 + 5),
        ("2023-11-14T17:13:23-05:00", T0 + 3),
    ]:
        out = tmp_path / f"ext-{expected}.ksig"
        r = run("extend", first, "--publication-time", when, "-o", out, "--home", home, "--json")
        assert r.rc == 0, r.err
        assert r.json == {
            "signature": str(out),
            "publication_time": format_time(expected),
            "publication_time_unix": expected,
            "publication_string": published[expected],
        }
        v = run(
            "verify", out, "--document", doc, "--policy", "user-publication",
            "--publication-string", published[expected], "--home", home,
        )  # fmt: skip
        assert v.rc == 0, v.out
    assert load_signature(first).publication_record is None  # -o left SIG alone

    no_zone = run("publish", "--at", "2023-11-14T22:13:24", "--home", home, "--json")
    assert (no_zone.rc, no_zone.json["code"]) == (3, "FMT-17")
    no_zone = run("extend", first, "--publication-time", "2023-11-14T22:13:24", "--home", home)
    assert no_zone.rc == 3 and "[FMT-17]" in no_zone.err


def test_verify_at_accepts_iso_and_unix_times(run, home):
    sig = ksi_path(V_RFC3161_EXT)
    trust = [
        "--publications-file",
        ksi_path("pubfiles/publications-file-resigned.bin"),
        "--trust-anchor",
        ksi_path("certs/cert-file-for-deprecated-algorithm-in-calendar-chain.pem"),
        "--cert-constraint",
        GT_CONSTRAINT,
        "--policy",
        "publications-file",
        "--allow-sha1",  # the re-signed file's CMS uses SHA-1
        "--home",
        home,
    ]
    doc_hash = "SHA-256:5466e3cba14a843a5e93b78e3d6ab8d3491edcac7e06431ce1a7f49828c340c3"
    for at in ("2024-03-19T00:00:00Z", "1710806400", "2024-03-19T02:00:00+02:00"):
        r = run("verify", sig, *trust, "--document-hash", doc_hash, "--at", at)
        assert r.rc == 0, (at, r)
    # the anchor expired on 2026-07-10: checked now (the default) or later, it fails
    for extra in ([], ["--at", "2026-08-01T00:00:00+02:00"], ["--at", "1785542400"]):
        r = run("verify", sig, *trust, *extra, "--json")
        assert (r.rc, r.json["code"]) == (4, "PKI-05"), extra
    assert not home.exists()  # a given trust configuration needs no embedded backend


# -- verify against libksi's vectors ----------------------------------------------------


def test_vector_verifies_with_anchor_and_constraint(run, home):
    for policy in ("key", "general"):
        r = run(
            "verify", ksi_path(V_OK), *gt_trust("--policy", policy),
            "--document-hash", V_LAPTOP, "--home", home, "--json",
        )  # fmt: skip
        assert (r.rc, r.json["outcome"], r.json["policy"]) == (0, "OK", policy)
        assert r.json["aggregation_time_unix"] == 1398866256
        assert r.json["document_hash"] == V_LAPTOP
    wrong = "SHA-256:db27c0" + "00" * 29
    r = run("verify", ksi_path(V_OK), *gt_trust(), "--document-hash", wrong, "--home", home)
    assert r.rc == 1 and r.out.startswith("FAIL [GEN-01]")
    assert not home.exists()  # offline: the embedded backend was never opened


def test_vector_with_wrong_constraint_or_none_is_a_trust_error(run, home):
    r = run(
        "verify", ksi_path(V_OK), "--publications-file", ksi_path("pubfiles/publications.tlv"),
        "--trust-anchor", ksi_path("certs/mock.crt"),
        "--cert-constraint", f"{EMAIL_OID}=publications@jura.ch", "--home", home, "--json",
    )  # fmt: skip
    assert r.rc == 4
    assert r.json["code"] == "PKI-04"
    assert r.json["error"]["details"]["found"] == ["publications@guardtime.com"]
    r = run(
        "verify", ksi_path(V_OK), "--publications-file", ksi_path("pubfiles/publications.tlv"),
        "--trust-anchor", ksi_path("certs/mock.crt"), "--home", home,
    )  # fmt: skip
    assert r.rc == 4 and "[PKI-01]" in r.err  # an anchor needs at least one constraint
    r = run(
        "verify", ksi_path(V_OK), *gt_trust("--trust-anchor", ksi_path("pubfiles/publications.tlv"))
    )
    assert r.rc == 3  # a trust anchor that is not a certificate


@pytest.mark.parametrize(
    ("path", "extra", "rc", "code"),
    [
        ("signatures/invalid/bad-aggregation-chain.ksig", [], 1, "INT-01"),
        ("signatures/invalid/signature-cal-auth-wrong-signing-value.ksig", [], 1, "KEY-02"),
        (
            "signatures/valid/ok-sig-2017-04-21.1-input-hash-level-5.ksig",
            ["--input-level", "5"],
            0,
            None,
        ),
        (
            "signatures/valid/ok-sig-2017-04-21.1-input-hash-level-5.ksig",
            ["--input-level", "6"],
            1,
            "GEN-03",
        ),
        (V_UNANCHORED, ["--policy", "key"], 2, "GEN-02"),
    ],
)
def test_vector_outcomes(run, home, path, extra, rc, code):
    r = run("verify", ksi_path(path), *gt_trust(*extra), "--home", home, "--json")
    assert (r.rc, r.json["code"]) == (rc, code)
    assert r.json["outcome"] == {0: "OK", 1: "FAIL", 2: "NA"}[rc]


def test_vector_with_recorded_extender_response(run, home):
    ok_resp = ksi_path("pdus/ok-sig-2014-04-30.1-extend_response.tlv")
    nok_resp = ksi_path("pdus/ok-sig-2014-04-30.1-nok-extend_response-1.tlv")
    base = ["verify", ksi_path(V_UNANCHORED), *gt_trust("--policy", "publications-file")]
    r = run(*base, "--extending-allowed", "--extender-response", ok_resp, "--json")
    assert (r.rc, r.json["outcome"], r.json["code"]) == (0, "OK", None)
    assert "extend_to_publication" in [x["rule"] for x in r.json["rules"]]
    r = run(*base, "--extending-allowed", "--extender-response", nok_resp, "--json")
    assert (r.rc, r.json["outcome"], r.json["code"]) == (1, "FAIL", "PUB-01")
    r = run(*base, "--json")  # no extending: inconclusive
    assert (r.rc, r.json["code"]) == (2, "GEN-02")
    r = run(*base, "--extending-allowed", "--extender-response", ksi_path(V_OK))
    assert r.rc == 3 and "[FMT-15]" in r.err  # a signature is not a PDU
    cal = run(
        "verify", ksi_path(V_OK), "--policy", "calendar", "--extender-response", nok_resp, "--json"
    )
    assert (cal.rc, cal.json["code"]) == (1, "CAL-04")
    assert not home.exists()


def test_missing_extender_response_is_exit_3(run, home, tmp_path):
    r = run(
        "verify", ksi_path(V_UNANCHORED), *gt_trust("--policy", "publications-file"),
        "--extending-allowed", "--extender-response", tmp_path / "missing.tlv", "--json",
    )  # fmt: skip
    assert (r.rc, r.json["code"]) == (3, "FMT-19")


# -- inspect and publication ------------------------------------------------------------


def test_inspect_json_fresh_and_extended(run, home, doc, clock):
    ksig = f"{doc}.ksig"
    run("sign", doc, "--home", home)
    r = run("inspect", ksig, "--json")
    assert r.rc == 0
    obj = r.json
    sig = load_signature(ksig)
    assert obj["document_hash"] == str(Imprint.hash(DOC))
    assert (obj["aggregation_time_unix"], obj["aggregation_time"]) == (T0, "2023-11-14T22:13:20Z")
    assert obj["issuer"] == ["jura-trust"]
    (chain,) = obj["aggregation_chains"]
    assert chain["algorithm"] == "SHA-256"
    assert chain["input_hash"] == obj["document_hash"]
    assert chain["links"][0]["metadata"]["client_id"] == "jura-trust"
    assert chain["links"][0]["metadata"]["request_time_us"] == T0 * 1_000_000
    assert obj["calendar_chain"]["publication_time_unix"] == T0
    assert obj["calendar_chain"]["links"] == len(sig.calendar_chain.links)
    assert obj["publication_record"] is None
    auth = obj["calendar_auth_record"]
    with EmbeddedBackend(home, clock=clock) as b:
        cert_id = b.trusted_publications_file().find_certificate_record(
            sig.calendar_auth_record.signature_data.certificate_id
        )
        assert cert_id is not None
    assert auth["certificate_id"] == sig.calendar_auth_record.signature_data.certificate_id.hex()
    assert auth["signature_type"] == "1.2.840.113549.1.1.11"
    assert obj["rfc3161_record"] is False

    human = run("inspect", ksig)
    assert "signed at        2023-11-14T22:13:20Z (1700000000)" in human.out
    assert f"calendar auth record, certificate {auth['certificate_id']}" in human.out

    run("publish", "--home", home)
    run("extend", ksig, "--home", home)
    text = run("publication", "--home", home).out.strip()
    obj = run("inspect", ksig, "--json").json
    assert obj["calendar_auth_record"] is None
    assert obj["publication_record"]["publication_time_unix"] == T0
    assert obj["publication_record"]["publication_string"] == text
    assert obj["publication_record"]["references"] == [
        "jura_trust publication 2023-11-14T22:13:20Z"
    ]
    human = run("inspect", ksig).out
    assert text in human and "a hint: not covered by the signature" in human


def test_inspect_json_of_a_libksi_vector(run):
    obj = run("inspect", ksi_path(V_OK), "--json").json
    assert obj["document_hash"] == V_LAPTOP
    assert obj["aggregation_time_unix"] == 1398866256
    assert [c["chain_index"] for c in obj["aggregation_chains"]] == [
        [11, 6291423, 3],
        [11, 6291423],
        [11],
    ]
    assert any(link["legacy_id"] for c in obj["aggregation_chains"] for link in c["links"])
    assert obj["calendar_chain"]["publication_time_unix"] == 1398902400
    assert obj["calendar_auth_record"]["certificate_id"] == "c246b139"
    ext = run(
        "inspect", ksi_path("signatures/valid/ok-sig-2014-04-30.1-extended.ksig"), "--json"
    ).json
    assert ext["publication_record"]["publication_string"] == (
        "AAAAAA-CTOQBY-AAMJYH-XZPM6T-UO6U6V-2WJMHQ-EJMVXR-JEAGID-2OY7P5-XFFKYI-QIF2LG-YOV7SO"
    )
    unanchored = run("inspect", ksi_path(V_UNANCHORED)).out
    assert "anchor           none" in unanchored


def test_publication_json(run, home, doc, clock):
    run("sign", doc, "--home", home)
    clock.advance(10)
    run("sign", doc, "--home", home, "--force")
    run("publish", "--at", T0, "--home", home)
    latest = run("publish", "--home", home, "--json").json
    assert latest["publication_time_unix"] == T0 + 10
    r = run("publication", "--home", home, "--json")
    assert r.rc == 0
    obj = r.json
    assert obj["publication_time_unix"] == T0 + 10
    assert obj["publication_time"] == "2023-11-14T22:13:30Z"
    assert obj["publication_string"] == latest["publication_string"]
    data = decode_publication_string(obj["publication_string"])
    assert data.publication_time == T0 + 10
    assert str(data.published_hash) == obj["published_hash"]
    again = run("publish", "--at", "1700000010", "--home", home, "--json").json
    assert again == latest  # publishing a second twice changes nothing


# -- progress bar -----------------------------------------------------------------------


def test_progress_bar_on_a_terminal_for_large_files(run, home, tmp_path, monkeypatch):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 3_000_000)
    small = tmp_path / "small.txt"
    small.write_bytes(b"tiny")
    monkeypatch.setattr(cli._common, "PROGRESS_THRESHOLD", 1_000_000)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    r = run("sign", big, small, "--home", home)
    assert r.rc == 0
    assert "\r  hashing big.bin [" in r.err
    assert r.err.rstrip("\n").endswith("100.0%")
    assert r.err.count("\n") == 1  # the bar ends its line once
    assert "small.txt" not in r.err  # below the threshold: no bar
    r = run("verify", f"{big}.ksig", "--document", big, "--home", home)
    assert r.rc == 0
    assert "hashing big.bin" in r.err and "100.0%" in r.err


def test_no_progress_bar_when_not_a_terminal(run, home, tmp_path, monkeypatch):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 3_000_000)
    monkeypatch.setattr(cli._common, "PROGRESS_THRESHOLD", 1_000_000)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    r = run("sign", big, "--home", home)
    assert (r.rc, r.err) == (0, "")


# -- demo ---------------------------------------------------------------------------------


@pytest.fixture
def run_real(monkeypatch, capsys, tmp_path):
    """main() in process with the real clock (the demo's own backend)."""
    monkeypatch.setenv(cli.HOME_ENV, str(tmp_path / "env-home"))

    return _runner(capsys)


def test_demo_says_what_it_proved(run_real, tmp_path):
    workdir = tmp_path / "demo"
    workdir.mkdir()
    r = run_real("demo", "--home", workdir)
    assert r.rc == 0, r.out
    assert "[FAILED]" not in r.out
    assert r.out.count("  [ok] ") == 4
    assert "an altered document is refused (GEN-01)" in r.out
    assert "verified with the printed publication string alone" in r.out
    assert "Proved: the document is unaltered" in r.out
    ksig = next(workdir.rglob("*.ksig"))
    assert load_signature(ksig).is_extended
    # without --home the demo leaves no state behind, not even in $JURA_TRUST_HOME
    r = run_real("demo")
    assert r.rc == 0 and "Proved:" in r.out
    assert not (tmp_path / "env-home").exists()


def test_demo_creates_its_home(run_real, tmp_path):
    assert run_real("demo", "--home", tmp_path / "new-home").rc == 0


def test_demo_home_is_the_backend_home(run_real, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    demo = run_real("demo", "--home", home)
    assert demo.rc == 0
    r = run_real("publication", "--home", home)
    assert r.rc == 0
    assert r.out.strip() in demo.out


def test_sign_unwritable_signature_is_an_error_not_a_crash(run, home, doc):
    Path(f"{doc}.ksig").mkdir()  # the target is a directory: cannot be replaced
    r = run("sign", doc, "--home", home, "--force")
    assert r.rc == 3
    assert "[FMT-19]" in r.err


def test_json_follows_redirected_stdout(tmp_path):
    home = tmp_path / "home"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["publication", "--home", str(home), "--json"]) == 4
    assert json.loads(buf.getvalue())["code"] == "SVC-08"


# -- a fresh process ------------------------------------------------------------------------


def test_installed_command_in_fresh_processes(tmp_path):
    exe = Path(sys.executable).parent / "jura-trust"
    assert exe.is_file()
    home = tmp_path / "home"
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    doc = tmp_path / "report.txt"
    doc.write_bytes(DOC)
    env = {**os.environ, cli.HOME_ENV: str(tmp_path / "unused-env-home")}

    def jt(*argv: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: PLW1510 - the exit status is asserted
            [str(exe), *map(str, argv)], capture_output=True, text=True, env=env, timeout=60
        )

    demo = jt("demo", "--home", demo_dir)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Proved:" in demo.stdout

    assert jt("sign", doc, "--home", home).returncode == 0
    # a new process finds the calendar key's certificate in the saved state
    key = jt("verify", f"{doc}.ksig", "--document", doc, "--policy", "key", "--home", home)
    assert key.returncode == 0, key.stdout + key.stderr
    assert jt("publish", "--home", home).returncode == 0
    assert jt("extend", f"{doc}.ksig", "--home", home).returncode == 0
    text = jt("publication", "--home", home).stdout.strip()
    pubf = jt(
        "verify",
        f"{doc}.ksig",
        "--document",
        doc,
        "--policy",
        "publications-file",
        "--home",
        home,
        "--json",
    )
    assert pubf.returncode == 0, pubf.stdout + pubf.stderr
    assert json.loads(pubf.stdout)["extended"] is True

    # offline: the publication string alone, no backend state at all
    nowhere = tmp_path / "nowhere"
    user = jt(
        "verify", f"{doc}.ksig", "--document", doc, "--policy", "user-publication",
        "--publication-string", text, "--home", nowhere,
    )  # fmt: skip
    assert user.returncode == 0, user.stdout + user.stderr
    assert not nowhere.exists()
    doc.write_bytes(DOC.replace(b"aucune", b"plusieurs"))
    tampered = jt(
        "verify", f"{doc}.ksig", "--document", doc, "--policy", "user-publication",
        "--publication-string", text, "--home", nowhere,
    )  # fmt: skip
    assert tampered.returncode == 1
    assert "GEN-01" in tampered.stdout
    assert not (tmp_path / "unused-env-home").exists()


def test_verify_without_state_is_na_and_creates_nothing(run, tmp_path):
    empty = tmp_path / "empty-home"
    r = run("verify", ksi_path(V_OK), "--home", empty, "--json")
    assert (r.rc, r.json["outcome"], r.json["code"]) == (2, "NA", "GEN-02")
    assert not empty.exists()
    # the internal policy needs no trust material at all
    assert run("verify", ksi_path(V_OK), "--home", empty, "--policy", "internal").rc == 0
    assert not empty.exists()


def test_trust_flags_need_a_publications_file(run, tmp_path):
    r = run("verify", ksi_path(V_OK), "--trust-anchor", ksi_path("certs/mock.crt"))
    assert r.rc == 64
    assert "--publications-file" in r.err
    r = run("verify", ksi_path(V_OK), "--cert-constraint", "1.2.840.113549.1.9.1=x@y")
    assert r.rc == 64


def test_extend_response_for_another_request_is_refused_by_verify(run, home):
    """--extender-request binds --extender-response to the recorded request's ids (SVC-10)."""
    request = ksi_path("tlv/v2/extend_request.tlv")  # request id 1
    ok_resp = ksi_path("pdus/ok-sig-2014-04-30.1-extend_response.tlv")  # answers id 1
    other = ksi_path("tlv/v2/extend_response.tlv")  # answers id 2
    base = ["verify", ksi_path(V_UNANCHORED), *gt_trust("--policy", "publications-file")]
    r = run(*base, "--extender-response", ok_resp, "--extender-request", request, "--json")
    assert (r.rc, r.json["outcome"]) == (0, "OK")
    r = run(*base, "--extender-response", other, "--extender-request", request, "--json")
    assert (r.rc, r.json["code"]) == (4, "SVC-10")
    r = run(*base, "--extender-request", request)
    assert r.rc == 64


def test_client_key_from_a_file(run, tmp_path):
    """--key-file keeps the remote key out of argv; both --key and --key-file is a usage error."""
    key = tmp_path / "key"
    key.write_text("secret\n")
    r = run(
        "sign",
        tmp_path / "key",
        "--aggregator",
        "http://127.0.0.1:9/a",
        "--login",
        "x",
        "--key",
        "k",
        "--key-file",
        key,
    )
    assert r.rc == 64 and "--key-file" in r.err


# -- issue 8: a bare OK without a document; typed failures; what a result rests on ------


def test_bare_ok_without_document_checks_the_file_beside_sig(run, home, doc):
    """``verify report.pdf.ksig`` compares report.pdf when it exists (as ``ots verify``)."""
    assert run("sign", doc, "--home", home).rc == 0
    ksig = f"{doc}.ksig"
    r = run("verify", ksig, "--home", home, "--json")
    assert (r.rc, r.json["outcome"], r.json["document_checked"]) == (0, "OK", True)
    assert r.json["document"] == str(doc)
    doc.write_bytes(DOC + b"altered")
    r = run("verify", ksig, "--home", home, "--json")
    assert (r.rc, r.json["outcome"], r.json["code"]) == (1, "FAIL", "GEN-01")
    assert r.json["document_checked"] is True
    human = run("verify", ksig, "--home", home)
    assert human.rc == 1
    assert "not proven" in human.out


def test_bare_ok_without_document_says_none_was_compared(run, home, doc, tmp_path):
    assert run("sign", doc, "--home", home).rc == 0
    lonely = tmp_path / "receipt.ksig"
    lonely.write_bytes(Path(f"{doc}.ksig").read_bytes())
    r = run("verify", lonely, "--home", home, "--json")
    assert (r.rc, r.json["outcome"], r.json["document_checked"]) == (0, "OK", False)
    assert r.json["document"] is None
    human = run("verify", lonely, "--home", home)
    assert "NOT COMPARED" in human.out


def test_verify_says_what_the_result_rests_on(run, home, doc):
    assert run("sign", doc, "--home", home).rc == 0
    ksig = f"{doc}.ksig"
    r = run("verify", ksig, "--home", home, "--json")
    assert r.json["anchor"]["kind"] == "calendar-key"
    assert r.json["proven_aggregation_time"] == "2023-11-14T22:13:20Z"
    human = run("verify", ksig, "--home", home)
    assert "rests on    calendar key" in human.out
    internal = run("verify", ksig, "--home", home, "--policy", "internal")
    assert "consistency only" in internal.out
    r = run("verify", ksig, "--home", home, "--policy", "internal", "--json")
    assert r.json["anchor"]["kind"] == "none"


def test_huge_times_in_a_calendar_chain_are_a_coded_result(run, home, doc, tmp_path):
    """Very large times used to crash the CLI's time formatting (exit 64, plain text)."""
    assert run("sign", doc, "--home", home).rc == 0
    sig = load_signature(f"{doc}.ksig")
    cal = evolve(sig.calendar_chain, publication_time=1 << 62, aggregation_time_field=1 << 62)
    forged = tmp_path / "huge.ksig"
    chains = tuple(evolve(c, aggregation_time=1 << 62) for c in sig.aggregation_chains)
    forged.write_bytes(
        evolve(
            sig, aggregation_chains=chains, calendar_chain=cal, calendar_auth_record=None
        ).encode()
    )
    r = run("verify", forged, "--home", home, "--json")
    assert r.rc == 1
    assert r.json["outcome"] == "FAIL"
    assert r.json["code"].startswith("INT-")
    human = run("verify", forged, "--home", home)
    assert human.rc == 1
    assert "out of range" in human.out


def test_an_internal_error_exits_70_never_1(run, home, doc, monkeypatch):
    assert run("sign", doc, "--home", home).rc == 0

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a bug")

    from jura_trust.trust import Verifier

    monkeypatch.setattr(Verifier, "verify", broken)
    r = run("verify", f"{doc}.ksig", "--home", home, "--json")
    assert r.rc == 70
    assert r.json["outcome"] is None
    assert r.json["error"]["code"] == "INTERNAL"
    assert "Traceback" not in r.err
    r = run("verify", f"{doc}.ksig", "--home", home)
    assert r.rc == 70
    assert "internal error" in r.err


def test_trust_errors_name_the_flag_that_fixes_them(run, home, doc, tmp_path):
    """Issue 11 item 4: a fresh home said an extended receipt had "no calendar
    auth record"; --trust-anchor alone gave PKI-01 without naming --cert-constraint."""
    assert run("sign", doc, "--home", home).rc == 0
    assert run("publish", "--home", home).rc == 0
    extended = tmp_path / "extended.ksig"
    assert run("extend", f"{doc}.ksig", "-o", extended, "--home", home).rc == 0
    fresh = tmp_path / "fresh-home"
    r = run("verify", extended, "--document", doc, "--home", fresh, "--json")
    assert r.json["outcome"] == "NA"
    assert "--publications-file" in r.json["message"]
    assert "trust pin" in r.json["message"]
    r = run("verify", extended, "--document", doc, "--home", fresh, "--policy", "key", "--json")
    assert "extended to a publication" in r.json["message"]
    r = run("verify", f"{doc}.ksig", "--home", home, "--policy", "user-publication", "--json")
    assert "--publication-string" in r.json["message"]
    pubfile = home / "publications.bin"
    r = run(
        "verify", extended, "--publications-file", pubfile,
        "--trust-anchor", home / "publisher-cert.pem", "--json",
    )  # fmt: skip
    assert r.json["code"] == "PKI-01"
    assert "--cert-constraint" in r.json["message"]
