"""The residents' page over HTTP: the JSON API, its refusals, limits and headers."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jura_trust.service.config import PageConfig, load_config
from jura_trust.service.page import (
    CONTENT_SECURITY_POLICY,
    SCRIPT_MESSAGES,
    ClientLimiter,
    problem_of,
)
from tests.service.page_setup import ISSUER_NAME, build
from tests.service.server import ServerProcess

STATIC = Path(__file__).resolve().parents[2] / "src" / "jura_trust" / "service" / "static"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("page-api")
    setup = build(base)
    args = [*setup["serve_args"], "--publish-schedule", "every 2s"]
    with ServerProcess(setup["home"], *args, config=setup["config"]) as srv:
        setup["url"] = srv.url
        setup["server"] = srv
        yield setup


def call(
    url: str,
    body: bytes | None = None,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
    if body is not None:
        request.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def post_json(url: str, obj: Any) -> tuple[int, Any]:
    status, _, body = call(url, json.dumps(obj).encode())
    return status, json.loads(body)


def receipt_request(site: dict[str, Any], document: bytes, receipt: str = "sha256") -> Any:
    return {
        "signature": base64.b64encode(site["receipts"][receipt]).decode(),
        "document_hash": "SHA-256:" + hashlib.sha256(document).hexdigest(),
    }


# -- the page ----------------------------------------------------------------------------


def test_page_is_french_by_default_with_strict_headers_and_no_cookie(site: dict[str, Any]) -> None:
    status, headers, body = call(site["url"] + "/")
    assert status == 200
    assert b'<html lang="fr">' in body
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    csp = CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "http" not in csp and "*" not in csp
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in headers
    # No inline script: the only <script> without src is the JSON messages (not run).
    scripts = re.findall(rb"<script([^>]*)>", body)
    assert scripts == [b' src="/static/page.js" defer', b' type="application/json" id="messages"']
    assert b"style=" not in body and b"onclick" not in body.lower()


def test_no_third_party_resources(site: dict[str, Any]) -> None:
    _, _, page = call(site["url"] + "/")
    urls = re.findall(rb"(?:src|href)=\"([^\"]+)\"", page)
    assert urls, "the page links nothing?"
    for url in urls:
        assert url.startswith((b"/", b"?", b"#", b"data:")), url
    for name in ("page.js", "page.css"):
        status, headers, data = call(f"{site['url']}/static/{name}")
        assert status == 200
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert re.search(rb"https?://", data) is None, name
    status, _, _ = call(site["url"] + "/static/../config.py")
    assert status == 404
    status, _, _ = call(site["url"] + "/static/PROVENANCE.md")
    assert status == 404


def test_language_from_query_then_accept_language(site: dict[str, Any]) -> None:
    def lang(path: str, accept: str | None = None) -> bytes:
        _, headers, body = call(
            site["url"] + path, headers={"Accept-Language": accept} if accept else None
        )
        found = re.search(rb'<html lang="(\w+)">', body)
        assert found is not None
        assert headers["Content-Language"] == found.group(1).decode()
        return found.group(1)

    assert lang("/?lang=de") == b"de"
    assert lang("/?lang=en", "de") == b"en"
    assert lang("/", "de-CH,de;q=0.9,en;q=0.8") == b"de"
    assert lang("/", "en-GB, fr;q=0.5") == b"en"
    assert lang("/", "it-CH") == b"fr"
    assert lang("/?lang=xx", "it") == b"fr"
    _, _, german = call(site["url"] + "/?lang=de")
    assert "Eine Quittung prüfen".encode() in german


def test_vendored_decoder_is_the_recorded_file() -> None:
    data = (STATIC / "jsQR.js").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"
    provenance = (STATIC / "PROVENANCE.md").read_text()
    assert digest in provenance and "1.4.0" in provenance and "Apache-2.0" in provenance
    assert "Apache License" in (STATIC / "LICENSE-jsQR").read_text()


# -- receipts ------------------------------------------------------------------------------


def test_verify_receipt_answers_in_json(site: dict[str, Any]) -> None:
    status, obj = post_json(
        site["url"] + "/api/v1/verify", receipt_request(site, site["documents"]["doc"])
    )
    assert status == 200
    assert obj["outcome"] == "OK" and obj["valid"] is True and obj["code"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", obj["aggregation_time"])
    assert obj["issuer"] and all(isinstance(i, str) for i in obj["issuer"])
    assert obj["anchor"]["kind"] in ("calendar-key", "publication", "extender")
    assert obj["document_hash_algorithm"] == "SHA-256"


def test_verify_receipt_is_the_clis_verdict(site: dict[str, Any]) -> None:
    """The page's answer is the CLI's, for the same receipt and the same home."""
    base: Path = site["base"]
    site["server"].wait_for_line("published", timeout=15)
    status, api = post_json(
        site["url"] + "/api/v1/verify", receipt_request(site, site["documents"]["doc"])
    )
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "jura_trust.cli",
            "verify",
            str(base / "sha256.ksig"),
            "--document",
            str(base / "doc.txt"),
            "--home",
            str(site["home"]),
            "--json",
            "--extending-allowed",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    report = json.loads(cli.stdout)
    assert status == 200
    assert api["outcome"] == report["outcome"] == "OK"
    assert api["aggregation_time"] == report["proven_aggregation_time"]
    assert api["anchor"]["kind"] == report["anchor"]["kind"]
    assert api["issuer"] == report["issuer"]


def test_receipt_rests_on_a_publication_once_published(site: dict[str, Any]) -> None:
    site["server"].wait_for_line("published", timeout=15)
    status, obj = post_json(
        site["url"] + "/api/v1/verify", receipt_request(site, site["documents"]["doc"])
    )
    assert status == 200 and obj["valid"] is True
    anchor = obj["anchor"]
    assert anchor["kind"] == "publication"
    assert anchor["source"] == "publications-file"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", anchor["publication_date"])
    assert anchor["publication_date"] >= obj["aggregation_time"]


def test_altered_document_fails_with_gen_01(site: dict[str, Any]) -> None:
    status, obj = post_json(
        site["url"] + "/api/v1/verify", receipt_request(site, site["documents"]["altered"])
    )
    assert status == 200
    assert (obj["valid"], obj["outcome"], obj["code"]) == (False, "FAIL", "GEN-01")
    assert obj["aggregation_time"] is None and obj["issuer"] is None


def test_other_algorithm_receipt_names_its_algorithm(site: dict[str, Any]) -> None:
    status, obj = post_json(
        site["url"] + "/api/v1/verify", receipt_request(site, site["documents"]["doc"], "sha3")
    )
    assert status == 200
    assert obj["code"] == "GEN-04" and obj["valid"] is False
    assert obj["document_hash_algorithm"] == "SHA3-256"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b'{"signature": "AA==", "document_hash": "SHA-256:00"}', "text/plain"),
        (b"[1, 2]", "application/json"),
        (b'{"signature": "AA=="}', "application/json"),
        (b'{"signature": 1, "document_hash": "SHA-256:00"}', "application/json"),
        (
            b'{"signature": "%%%", "document_hash": "SHA-256:' + b"0" * 64 + b'"}',
            "application/json",
        ),
        (b'{"signature": "iAAA", "document_hash": "SHA-256:zz"}', "application/json"),
        (b'{"signature": "iAAA", "document_hash": "' + b"0" * 66 + b'"}', "application/json"),
        (
            b'{"signature": "aGVsbG8=", "document_hash": "SHA-256:' + b"0" * 64 + b'"}',
            "application/json",
        ),
        (b"\xff\xfe", "application/json"),
    ],
    ids=[
        "not-json",
        "not-application-json",
        "not-an-object",
        "missing-field",
        "not-a-string",
        "bad-base64",
        "bad-hash",
        "hash-without-algorithm",
        "not-a-ksig",
        "not-utf8",
    ],
)
def test_malformed_verify_request_gets_400(
    site: dict[str, Any], body: bytes, content_type: str
) -> None:
    status, headers, data = call(site["url"] + "/api/v1/verify", body, content_type=content_type)
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(data)["error"]["code"] == "SVC-13"


def test_document_bytes_are_refused_by_the_api(site: dict[str, Any]) -> None:
    """The API takes the hash only: a request carrying the document is malformed."""
    request = receipt_request(site, site["documents"]["doc"])
    request["document"] = base64.b64encode(site["documents"]["doc"]).decode()
    status, obj = post_json(site["url"] + "/api/v1/verify", request)
    assert status == 400 and obj["error"]["code"] == "SVC-13"


def test_oversized_requests_get_413(site: dict[str, Any]) -> None:
    big = json.dumps({"signature": "A" * 300_000, "document_hash": "SHA-256:00"}).encode()
    status, _, data = call(site["url"] + "/api/v1/verify", big)
    assert status == 413 and json.loads(data)["error"]["code"] == "SVC-14"
    huge = b"\x89PNG" + bytes(17 * 1024 * 1024)
    status, _, data = call(site["url"] + "/api/v1/verify-qr-image", huge, content_type="image/png")
    assert status == 413 and json.loads(data)["error"]["code"] == "SVC-14"


# -- certificates --------------------------------------------------------------------------


def test_valid_certificate_has_issuer_name_proven_time_and_fields(site: dict[str, Any]) -> None:
    status, obj = post_json(site["url"] + "/api/v1/verify-qr", {"text": site["certificates"][0]})
    assert status == 200
    assert obj["valid"] is True and obj["code"] is None and obj["problem"] is None
    assert obj["issuer"] == {"id": "CH-JU-OP", "name": ISSUER_NAME}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", obj["ksi_time"])
    assert obj["fields"]["prenom"] == "Hélène"


@pytest.mark.parametrize(
    ("index", "code", "problem"),
    [(3, "CRT-10", "expired"), (4, "CRT-12", "revoked")],
)
def test_invalid_certificate_says_why_and_shows_no_fields(
    site: dict[str, Any], index: int, code: str, problem: str
) -> None:
    status, obj = post_json(
        site["url"] + "/api/v1/verify-qr", {"text": site["certificates"][index]}
    )
    assert status == 200
    assert (obj["valid"], obj["code"], obj["problem"]) == (False, code, problem)
    assert obj["fields"] is None and obj["issuer"] is None and obj["ksi_time"] is None
    assert "Hélène" not in json.dumps(obj, ensure_ascii=False)


def test_forged_certificate_shows_no_forged_facts(site: dict[str, Any]) -> None:
    import cbor2

    from jura_trust.certificates._cbor import dumps_canonical
    from tests.certificates.jt1_helpers import envelope_item, rebuild

    item = envelope_item(site["certificates"][1])
    payload = dict(cbor2.loads(item[1]))
    payload[7] = dict(payload[7], prenom="Mallory")
    item[1] = dumps_canonical(payload)
    status, obj = post_json(site["url"] + "/api/v1/verify-qr", {"text": rebuild(item)})
    assert status == 200
    assert obj["valid"] is False and obj["problem"] == "altered"
    assert "Mallory" not in json.dumps(obj)


def test_unreadable_certificate_text(site: dict[str, Any]) -> None:
    status, obj = post_json(site["url"] + "/api/v1/verify-qr", {"text": "JT1:???"})
    assert status == 200
    assert obj["valid"] is False and obj["problem"] == "unreadable"
    assert obj["code"].startswith("CRT-")
    status, obj = post_json(site["url"] + "/api/v1/verify-qr", {"text": ""})
    assert status == 400 and obj["error"]["code"] == "SVC-13"


def test_photo_upload_is_decoded_on_the_server(site: dict[str, Any]) -> None:
    png = (site["base"] / "out" / "cert-0001.png").read_bytes()
    status, _, data = call(site["url"] + "/api/v1/verify-qr-image", png, content_type="image/png")
    obj = json.loads(data)
    assert status == 200 and obj["valid"] is True and obj["decoded"] == 1
    assert obj["issuer"]["name"] == ISSUER_NAME
    status, _, data = call(
        site["url"] + "/api/v1/verify-qr-image", b"not an image", content_type="image/jpeg"
    )
    obj = json.loads(data)
    assert status == 200 and obj["valid"] is False and obj["problem"] == "unreadable"
    status, _, data = call(site["url"] + "/api/v1/verify-qr-image", png, content_type="text/plain")
    assert status == 400


def test_no_qr_text_or_hash_is_logged(site: dict[str, Any]) -> None:
    text = site["certificates"][0]
    post_json(site["url"] + "/api/v1/verify-qr", {"text": text})
    request = receipt_request(site, site["documents"]["doc"])
    post_json(site["url"] + "/api/v1/verify", request)
    output = "".join(site["server"].lines)
    assert text[:40] not in output
    assert request["document_hash"].split(":")[1] not in output
    assert request["signature"][:40] not in output


# -- limits and configuration -----------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A service with a tiny per-client budget and no JT1 trust configured."""
    base = tmp_path_factory.mktemp("page-limited")
    config = base / "service.toml"
    config.write_text("[page]\nclient_rate = 0.01\nclient_burst = 3\n")
    with ServerProcess(base / "home", config=config) as srv:
        yield srv


def test_rate_limit_per_client_gets_429(limited: ServerProcess) -> None:
    url = limited.url + "/api/v1/verify-qr"
    answers = [call(url, json.dumps({"text": "JT1:X"}).encode()) for _ in range(5)]
    statuses = [status for status, _, _ in answers]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    _status, headers, data = answers[-1]
    assert int(headers["Retry-After"]) >= 1
    assert json.loads(data)["error"]["code"] == "SVC-15"
    # The page itself is not rate-limited.
    assert call(limited.url + "/")[0] == 200


def test_certificate_without_trust_list_is_not_verifiable(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home") as srv:
        status, obj = post_json(
            srv.url + "/api/v1/verify-qr", {"text": "JT1:NCF0RBSGOL53A F+J4NOAFI9OJ"}
        )
    assert status == 200
    assert obj["valid"] is False and obj["code"] in (
        "CRT-21",
        "CRT-17",
        "CRT-02",
        "CRT-03",
        "CRT-04",
    )


def test_no_page_flag_turns_the_page_off(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", "--no-page") as srv:
        assert call(srv.url + "/")[0] == 404
        assert call(srv.url + "/api/v1/verify", b"{}")[0] in (404, 405)
        assert call(srv.url + "/health")[0] == 200


def test_qr_and_page_tables(tmp_path: Path) -> None:
    (tmp_path / "service.toml").write_text(
        '[qr]\ntrust_list = "tl.cose"\ntrust_roots = ["root.pem"]\nseals = "seals"\n'
        'revocations = "rev.cose"\n[page]\nclient_rate = 2.5\nforwarded_for = true\n'
    )
    config = load_config(tmp_path / "service.toml", home=tmp_path / "home")
    page = config.page
    assert page.qr_trust_list == tmp_path / "tl.cose"
    assert page.qr_trust_roots == (tmp_path / "root.pem",)
    assert page.qr_seals == str(tmp_path / "seals")
    assert page.qr_revocations == tmp_path / "rev.cose"
    assert page.client_rate == 2.5 and page.forwarded_for is True
    override = config.with_overrides(qr_trust_list="other.cose", no_page=True)
    assert override.page.qr_trust_list == Path("other.cose") and not override.page.enabled
    from jura_trust.errors import BackendError

    for bad in (
        "[page]\nclient_rate = -1\n",
        "[page]\nunknown = 1\n",
        '[qr]\ntrust_list = "tl.cose"\n',
        '[qr]\nseals = "x"\n',
        "[page]\nenabled = 1\n",
    ):
        (tmp_path / "bad.toml").write_text(bad)
        with pytest.raises(BackendError) as info:
            load_config(tmp_path / "bad.toml", home=tmp_path)
        assert info.value.code.value == "SVC-08"


def test_client_limiter_counts_ipv6_per_64_and_bounds_its_table() -> None:
    clock = [0.0]
    limiter = ClientLimiter(
        PageConfig(client_rate=1.0, client_burst=2, total_rate=100.0, total_burst=5),
        now=lambda: clock[0],
        max_clients=3,
    )
    assert limiter.allow("2001:db8::1") and limiter.allow("2001:db8::2")
    assert not limiter.allow("2001:db8::ffff"), "the same /64 shares one bucket"
    assert limiter.allow("2001:db8:0:1::1")
    assert limiter.allow("::ffff:192.0.2.1") and limiter.allow("192.0.2.1")
    assert not limiter.allow("198.51.100.7"), "the shared bucket bounds everyone"
    clock[0] += 10
    assert limiter.allow("198.51.100.7")
    assert len(limiter._clients) <= 3
    assert ClientLimiter.client_key("not an address") == "?"


def test_problems_in_resident_words_cover_every_outcome() -> None:
    assert problem_of("OK", None) is None
    assert problem_of("NA", "CRT-09") == "not-verifiable"
    assert problem_of("FAIL", "CRT-05") == "unknown-issuer"
    assert problem_of("FAIL", "CRT-07") == "altered"
    assert problem_of("FAIL", "CRT-12") == "revoked"
    assert problem_of("FAIL", "CRT-10") == "expired"
    assert problem_of("FAIL", "CRT-99") == "altered", "an unknown failure is never benign"
    for problem in ("unknown-issuer", "altered", "revoked", "expired", "not-yet-valid",
                    "seal-not-found", "unreadable", "not-verifiable"):  # fmt: skip
        assert f"problem_{problem}" in SCRIPT_MESSAGES


def test_deeply_nested_json_gets_400_not_a_traceback(site: dict[str, Any]) -> None:
    """json.loads raises RecursionError (not ValueError) on deep nesting."""
    status, _, data = call(site["url"] + "/api/v1/verify", b"[" * 200_000)
    assert status == 400
    assert json.loads(data)["error"]["code"] == "SVC-13"
    status, _, _ = call(site["url"] + "/health")
    assert status == 200


def test_messages_block_cannot_close_the_script_element(monkeypatch: pytest.MonkeyPatch) -> None:
    from jura_trust.service import page as page_module

    monkeypatch.setattr(
        page_module, "SCRIPT_MESSAGES", {"x": "</script><script>alert(1)</script>&amp;"}
    )
    resident = page_module.ResidentPage(None, PageConfig(), body_timeout=1.0)  # type: ignore[arg-type]
    try:
        html = resident.render("en").decode()
    finally:
        resident._pool.shutdown()
    block = html.split('<script type="application/json" id="messages">', 1)[1].split("</script>")[0]
    assert "<" not in block and ">" not in block and "&" not in block
    assert json.loads(block) == {"x": "</script><script>alert(1)</script>&amp;"}


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_colours_keep_a_contrast_of_at_least_7_to_1() -> None:
    """WCAG AAA for normal text, for every text colour on the background it is used on."""
    css = (STATIC / "page.css").read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6});", css))
    pairs = [
        ("ink", "paper"), ("muted", "paper"), ("accent", "paper"),
        ("valid", "valid-bg"), ("invalid", "invalid-bg"), ("problem", "problem-bg"),
        ("ink", "valid-bg"), ("ink", "invalid-bg"), ("ink", "problem-bg"),
    ]  # fmt: skip
    for text, background in pairs:
        assert _contrast(var[text], var[background]) >= 7.0, (text, background)
    assert _contrast("#ffffff", var["accent"]) >= 7.0  # button text
