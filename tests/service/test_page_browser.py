"""The residents' page in a real browser: Debian's Chromium, headless, driven by Playwright.

One service and one browser for the whole module. Chromium's fake camera
plays a Y4M file made here from a rendered certificate. Screenshots of
every state go to tests/artifacts/page/ (git-ignored); docs/residents.md
shows some of them.

These tests never skip: without Chromium or Playwright they fail, saying
what to install (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.service.page_setup import ISSUER_NAME, build
from tests.service.server import ServerProcess

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "page"
CHROMIUM = os.environ.get("JURA_TRUST_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 412, "height": 915}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
FRENCH_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
TIMEOUT_MS = 20_000


def _playwright() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium "
            "(or set JURA_TRUST_CHROMIUM); the browser tests never skip"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        pytest.fail("Playwright for Python is missing: pip install -e '.[dev]' (the browser extra)")
    return sync_playwright


def write_y4m(png: Path, out: Path, *, width: int = 640, height: int = 480) -> None:
    """A short 4:2:0 Y4M video of ``png`` centred on white (Chromium's fake camera)."""
    from PIL import Image

    code = Image.open(png).convert("L")
    side = min(width, height) - 40
    code = code.resize((side, side), Image.Resampling.NEAREST)
    frame = Image.new("L", (width, height), 255)
    frame.paste(code, ((width - side) // 2, (height - side) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            f.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("page")
    setup = build(base)
    with ServerProcess(setup["home"], *setup["serve_args"], config=setup["config"]) as srv:
        setup["url"] = srv.url
        setup["server"] = srv
        yield setup


@pytest.fixture(scope="module")
def browser(site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_playwright = _playwright()
    video = tmp_path_factory.mktemp("camera") / "code.y4m"
    write_y4m(site["base"] / "out" / "cert-0002.png", video)
    profile = tmp_path_factory.mktemp("profile")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--use-file-for-fake-video-capture={video}"],
            viewport=PHONE,
            device_scale_factor=1,
            locale="fr-CH",
            timezone_id="Europe/Zurich",
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    try:
        yield page
    finally:
        page.close()
    # CSP violations and script errors show as console errors: there must be none.
    assert errors == []


def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def drop_files(page: Any, files: dict[str, bytes]) -> None:
    """Drop files on the drop zone as a user would (a DataTransfer with File objects)."""
    page.evaluate(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, bytes] of Object.entries(files)) {
                transfer.items.add(new File([new Uint8Array(bytes)], name));
            }
            const zone = document.getElementById("drop");
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true,
                                                       cancelable: true}));
        }""",
        {name: list(data) for name, data in files.items()},
    )


def result_text(page: Any, box: str) -> str:
    locator = page.locator(f"#{box}-result")
    locator.locator("h3").wait_for()
    return str(locator.inner_text())


def test_receipt_dropped_shows_the_french_success_text(page: Any, site: dict[str, Any]) -> None:
    bodies: list[bytes] = []
    page.on("request", lambda r: bodies.append(r.post_data_buffer or b""))
    page.goto(site["url"] + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    shot(page, "fr-start")
    drop_files(
        page,
        {"demande.txt": site["documents"]["doc"], "demande.txt.ksig": site["receipts"]["sha256"]},
    )
    text = result_text(page, "receipt")
    shot(page, "fr-receipt-intact")
    assert "Le document est intact" in text
    assert "reçu le" in text
    month = FRENCH_MONTHS[datetime.now(UTC).month - 1]
    assert month in text or FRENCH_MONTHS[datetime.now(UTC).month % 12] in text
    assert "Sur quoi repose la preuve" in text
    assert "Reçu par" in text
    assert any(b"document_hash" in b for b in bodies)


def test_no_request_body_contains_the_documents_bytes(page: Any, site: dict[str, Any]) -> None:
    import base64

    document = site["documents"]["doc"]
    sent: list[tuple[str, bytes]] = []
    page.on("request", lambda r: sent.append((r.url, r.post_data_buffer or b"")))
    page.goto(site["url"] + "/")
    page.set_input_files("#document", files=[_file("demande.txt", document)])
    page.set_input_files("#receipt-file", files=[_file("demande.ksig", site["receipts"]["sha256"])])
    page.click("#receipt-check")
    assert "Le document est intact" in result_text(page, "receipt")
    posted = [body for url, body in sent if body]
    assert posted, "the check sent nothing"
    for body in posted:
        assert document not in body
        assert base64.b64encode(document) not in body
        assert document[:24] not in body
    assert all(url.startswith(site["url"]) for url, _ in sent), "a request left the service"


def test_altered_document_shows_the_failure_text_and_gen_01(
    page: Any, site: dict[str, Any]
) -> None:
    page.goto(site["url"] + "/")
    page.set_input_files("#document", files=[_file("demande.txt", site["documents"]["altered"])])
    page.set_input_files("#receipt-file", files=[_file("demande.ksig", site["receipts"]["sha256"])])
    page.click("#receipt-check")
    text = result_text(page, "receipt")
    shot(page, "fr-receipt-altered")
    page.locator("#receipt-result").screenshot(path=str(ARTIFACTS / "fr-receipt-altered-box.png"))
    assert "Le document ne correspond pas à ce récépissé" in text
    assert "GEN-01" in text
    assert "intact" not in text


def test_sha384_receipt_is_hashed_again_with_its_algorithm(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/")
    page.set_input_files("#document", files=[_file("demande.txt", site["documents"]["doc"])])
    page.set_input_files("#receipt-file", files=[_file("d.ksig", site["receipts"]["sha384"])])
    page.click("#receipt-check")
    assert "Le document est intact" in result_text(page, "receipt")


def test_sha3_receipt_gets_a_clear_message(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/")
    page.set_input_files("#document", files=[_file("demande.txt", site["documents"]["doc"])])
    page.set_input_files("#receipt-file", files=[_file("d.ksig", site["receipts"]["sha3"])])
    page.click("#receipt-check")
    text = result_text(page, "receipt")
    shot(page, "fr-receipt-sha3")
    assert "SHA3-256" in text
    assert "jura-trust" in text
    assert "intact" not in text


def test_certificate_through_the_camera_is_valid_with_the_issuers_name(
    page: Any, site: dict[str, Any]
) -> None:
    page.goto(site["url"] + "/")
    page.click("#camera-start")
    text = result_text(page, "certificate")
    shot(page, "fr-certificate-camera")
    assert "Certificat valable" in text
    assert ISSUER_NAME in text
    assert "2026-000002" in text  # the scanned certificate's own field


def test_certificate_through_photo_upload_is_valid_with_the_issuers_name(
    page: Any, site: dict[str, Any]
) -> None:
    page.goto(site["url"] + "/")
    png = (site["base"] / "out" / "cert-0001.png").read_bytes()
    page.set_input_files("#photo", files=[_file("photo.png", png, "image/png")])
    text = result_text(page, "certificate")
    shot(page, "fr-certificate-photo")
    assert "Certificat valable" in text
    assert ISSUER_NAME in text
    assert "2026-000001" in text


def test_link_certificate_opened_as_a_url_is_valid(page: Any, site: dict[str, Any]) -> None:
    # The plain JT1 text, URL-encoded, in the fragment (see docs/residents.md).
    text = site["certificates"][0]
    page.goto(site["url"] + "/#" + urllib.parse.quote(text, safe=""))
    result = result_text(page, "certificate")
    shot(page, "fr-certificate-link")
    assert "Certificat valable" in result
    assert ISSUER_NAME in result


def test_digit_link_certificate_opened_as_a_url_is_valid(page: Any, site: dict[str, Any]) -> None:
    """The link form of ``qr issue --link-base`` (digits after ``#1``): the page sends the
    whole link, the verifier reads it back to the plain text."""
    from jura_trust.certificates import link

    url = link.link_text(site["certificates"][1], site["url"] + "/")
    page.goto(url)
    result = result_text(page, "certificate")
    shot(page, "fr-certificate-digit-link")
    assert "Certificat valable" in result
    assert ISSUER_NAME in result


def test_expired_certificate_is_explained_and_shows_no_fields(
    page: Any, site: dict[str, Any]
) -> None:
    page.goto(site["url"] + "/")
    page.fill("#qr-text", site["certificates"][3])
    page.click("#text-check")
    text = result_text(page, "certificate")
    shot(page, "fr-certificate-expired")
    page.locator("#certificate-result").screenshot(
        path=str(ARTIFACTS / "fr-certificate-expired-box.png")
    )
    assert "Ce certificat n'est pas valable" in text
    assert "échu" in text
    assert "CRT-10" in text
    assert "Hélène" not in text and "2020-000001" not in text


def test_altered_certificate_shows_no_forged_facts(page: Any, site: dict[str, Any]) -> None:
    from tests.certificates.jt1_helpers import envelope_item, rebuild

    item = envelope_item(site["certificates"][1])
    import cbor2

    payload = dict(cbor2.loads(item[1]))
    payload[7] = dict(payload[7], prenom="Mallory")
    from jura_trust.certificates._cbor import dumps_canonical

    item[1] = dumps_canonical(payload)
    page.goto(site["url"] + "/")
    page.fill("#qr-text", rebuild(item))
    page.click("#text-check")
    text = result_text(page, "certificate")
    shot(page, "fr-certificate-altered")
    assert "Ce certificat n'est pas valable" in text
    assert "falsifié" in text
    assert "Mallory" not in text


@pytest.mark.parametrize("language", ["fr", "de", "en"])
def test_screens_in_each_language(page: Any, site: dict[str, Any], language: str) -> None:
    titles = {
        "fr": (
            "Vérifier un récépissé ou un certificat",
            "Le document est intact",
            "Certificat valable",
        ),
        "de": (
            "Eine Quittung oder ein Zertifikat prüfen",
            "Das Dokument ist unverändert",
            "Gültiges Zertifikat",
        ),
        "en": ("Check a receipt or a certificate", "The document is intact", "Valid certificate"),
    }[language]
    page.goto(f"{site['url']}/?lang={language}")
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").inner_text() == titles[0]
    page.set_input_files("#document", files=[_file("d.txt", site["documents"]["doc"])])
    page.set_input_files("#receipt-file", files=[_file("d.ksig", site["receipts"]["sha256"])])
    page.click("#receipt-check")
    assert titles[1] in result_text(page, "receipt")
    page.fill("#qr-text", site["certificates"][0])
    page.click("#text-check")
    assert titles[2] in result_text(page, "certificate")
    shot(page, f"{language}-results")
    # The two sections alone, for docs/residents.md.
    page.locator("#receipt").screenshot(path=str(ARTIFACTS / f"{language}-receipt.png"))
    page.locator("#certificate-result").screenshot(
        path=str(ARTIFACTS / f"{language}-certificate.png")
    )


def test_language_switch(page: Any, site: dict[str, Any]) -> None:
    # The browser's language preference (the context's locale is fr-CH).
    page.route(
        site["url"] + "/",
        lambda route: route.continue_(
            headers={**route.request.headers, "accept-language": "de-CH,de;q=0.9,fr;q=0.5"}
        ),
    )
    page.goto(site["url"] + "/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Eine Quittung oder ein Zertifikat prüfen"
    page.click("nav >> text=English")
    page.wait_for_url("**/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Check a receipt or a certificate"
    page.click("nav >> text=Français")
    page.wait_for_url("**/?lang=fr")
    assert page.locator("h1").inner_text() == "Vérifier un récépissé ou un certificat"
    assert page.locator("nav a[aria-current=page]").inner_text() == "Français"


def test_keyboard_reaches_every_control(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/")
    seen = set()
    for _ in range(20):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
    for control in ("document", "receipt-file", "receipt-check", "camera-start", "photo",
                    "qr-text", "text-check"):  # fmt: skip
        assert control in seen, control
    # Every form control has a label.
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll("input, textarea"))
              .filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)"""
    )
    assert unlabelled == []


def test_page_fits_a_phone_screen(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/?lang=de")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    shot(page, "de-start")


def _file(name: str, data: bytes, mime: str = "application/octet-stream") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}
