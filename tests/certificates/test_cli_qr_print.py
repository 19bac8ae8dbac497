"""``qr issue`` print options (link certificates, labels, sizes) and ``qr stamp``, in process."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import xml.dom.minidom
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from jura_trust import cli, qr
from tests.certificates.test_cli_qr import run_json, setup, verify_args

__all__ = ["setup"]  # the fixture, shared with test_cli_qr

LINK = "https://qr.jura.ch/"


def issue_args(base: Path, out: str, *extra: str) -> list[str]:
    return [
        "qr",
        "issue",
        str(base / "docs.json"),
        "--issuer",
        "CH-JU-OP",
        "--key",
        str(base / "issuer.pem"),
        "--out",
        str(base / out),
        "--seals",
        str(base / "seals"),
        "--home",
        str(base / "home"),
        *extra,
    ]


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    status = cli.main([*argv, "--json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def linked(setup: dict[str, Path]) -> dict[str, Any]:
    base = setup["base"]
    args = issue_args(
        base,
        "linked",
        "--link-base",
        LINK,
        "--label",
        "--lang",
        "de",
        "--trust-list",
        str(base / "tl.cose"),
        "--trust-root",
        str(base / "root.pub.pem"),
        "--pin-version",
        "--module-mm",
        "0.4",
        "--dpi",
        "600",
        "--json",
    )
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert cli.main(args) == 0
    return {"base": base, "summary": json.loads(out.getvalue())}


def test_issue_link_base_writes_link_certificates(linked: dict[str, Any]) -> None:
    summary = linked["summary"]
    assert summary["link_base"] == LINK
    for item in summary["certificates"]:
        text = Path(item["text"]).read_text().strip()
        assert text.startswith(LINK + "#1")
        assert text[len(LINK) + 1 :].isdigit()
        assert qr.read_qr(Path(item["png"]).read_bytes()) == [text]


def test_link_certificate_verifies_as_file_url_and_image(
    linked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = linked["base"]
    item = linked["summary"]["certificates"][1]
    url = Path(item["text"]).read_text().strip()
    for target in (item["text"], url, item["png"], item["label_png"]):
        status, obj = run_json(capsys, *verify_args(base, target))
        assert status == 0, (target, obj)
        assert obj["valid"] is True
        assert obj["fields"]["extrait"] == "2024-000001"
    # one digit changed: refused, exit 3 or 1, never valid
    i = len(url) - 5
    changed = url[:i] + str((int(url[i]) + 1) % 10) + url[i + 1 :]
    status, obj = run_json(capsys, *verify_args(base, changed))
    assert status in (1, 3)
    assert obj["valid"] is False


def test_pin_version_prints_every_code_of_the_batch_at_one_size(linked: dict[str, Any]) -> None:
    items = linked["summary"]["certificates"]
    assert len({item["qr_version"] for item in items}) == 1
    assert len({item["size_mm"] for item in items}) == 1
    sizes = set()
    for item in items:
        with Image.open(item["png"]) as image:
            sizes.add(image.size)
    assert len(sizes) == 1


def test_issue_writes_svg_in_millimetres_and_png_with_its_dpi(linked: dict[str, Any]) -> None:
    item = linked["summary"]["certificates"][0]
    root = xml.dom.minidom.parse(item["svg"]).documentElement
    assert root.getAttribute("width") == f"{item['size_mm']:g}mm"
    assert root.getAttribute("viewBox").startswith("0 0 ")
    assert root.getElementsByTagName("rect")[0].getAttribute("fill") == "#fff"
    with Image.open(item["png"]) as image:
        assert tuple(round(v) for v in image.info["dpi"]) == (600, 600)
        module_px = image.size[0] / ((4 * item["qr_version"] + 17) + 8)
    assert module_px * 25.4 / 600 >= 0.4 - 1e-9


def test_label_names_the_issuer_from_the_trust_list_in_german(linked: dict[str, Any]) -> None:
    item = linked["summary"]["certificates"][0]
    assert item["label_lang"] == "de"
    svg = Path(item["label"]).read_text()
    assert "Office des poursuites du Jura" in svg
    assert "Auszug aus dem Betreibungsregister" in svg
    assert "Scannen Sie diesen Code mit der Kamera Ihres Telefons" in svg
    assert qr.read_qr(Path(item["label_png"]).read_bytes())[0].startswith(LINK)


def test_issue_refuses_modules_below_a_third_of_a_millimetre_before_signing(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = setup["base"]
    status, obj = cli_json(capsys, *issue_args(base, "tiny", "--module-mm", "0.3"))
    assert status == 4
    assert obj["error"]["code"] == "CRT-22"
    assert not (base / "tiny").exists()


def test_issue_refuses_a_pinned_version_too_small(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = setup["base"]
    status, obj = cli_json(capsys, *issue_args(base, "small", "--version", "2"))
    assert status == 4
    assert obj["error"]["code"] == "CRT-22"


def test_issue_refuses_a_bad_link_base(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = setup["base"]
    status, obj = cli_json(capsys, *issue_args(base, "bad", "--link-base", "javascript:alert(1)"))
    assert status == 3  # input that cannot be used (docs/cli.md)
    assert obj["error"]["code"] == "CRT-01"


# -- qr stamp ------------------------------------------------------------------------------


def blank_pdf(path: Path, pages: int = 2) -> Path:
    import pypdf

    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595.28, 841.89)  # A4
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def render_page(pdf: Path, page: int, dpi: int = 200) -> Path:
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (Debian's poppler-utils, installed by .ci/run) is needed"
    prefix = pdf.with_suffix("")
    subprocess.run(
        [pdftoppm, "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-singlefile",
         str(pdf), str(prefix)],
        check=True,
    )  # fmt: skip
    return prefix.with_suffix(".png")


def test_stamped_pdf_code_decodes_and_verifies(
    linked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = linked["base"]
    item = linked["summary"]["certificates"][2]
    doc = blank_pdf(base / "extract.pdf")
    out = base / "stamped.pdf"
    status, obj = cli_json(
        capsys,
        "qr",
        "stamp",
        str(doc),
        "--certificate",
        item["text"],
        "-o",
        str(out),
        "--page",
        "2",
        "--at",
        "15,20",
        "--trust-list",
        str(base / "tl.cose"),
        "--trust-root",
        str(base / "root.pub.pem"),
    )
    assert status == 0, obj
    assert obj["page"] == 2
    image = render_page(out, 2)
    text = Path(item["text"]).read_text().strip()
    assert qr.read_qr(image) == [text]
    status, result = run_json(capsys, *verify_args(base, str(image)))
    assert status == 0, result
    assert result["valid"] is True
    # page 1 is untouched: nothing to read there
    assert qr.read_qr(render_page(out, 1, dpi=72)) == []


def test_stamp_label_text_is_in_the_pdf(
    linked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import pypdf

    base = linked["base"]
    item = linked["summary"]["certificates"][0]
    doc = blank_pdf(base / "extract-1.pdf", pages=1)
    out = base / "stamped-1.pdf"
    assert (
        cli_json(capsys, "qr", "stamp", str(doc), "--certificate", item["text"], "-o", str(out))[0]
        == 0
    )
    page_text = pypdf.PdfReader(out).pages[0].extract_text()
    assert "Extrait du registre des poursuites" in page_text
    assert "Scannez ce code avec l'appareil photo de votre téléphone" in page_text


def test_stamp_outside_the_page_or_on_a_missing_page_is_refused(
    linked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = linked["base"]
    item = linked["summary"]["certificates"][0]
    doc = blank_pdf(base / "extract-2.pdf", pages=1)
    common = ["qr", "stamp", str(doc), "--certificate", item["text"], "-o", str(base / "x.pdf")]
    for extra in (["--at", "150,250"], ["--page", "2"], ["--at=-1,0"]):
        status, obj = cli_json(capsys, *common, *extra)
        assert status == 4, extra
        assert obj["error"]["code"] == "CRT-22"
    assert not (base / "x.pdf").exists()


def test_stamp_refuses_a_file_that_is_not_a_pdf(
    linked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = linked["base"]
    item = linked["summary"]["certificates"][0]
    (base / "fake.pdf").write_bytes(b"%PDF-1.7\nnot really")
    status, obj = cli_json(
        capsys, "qr", "stamp", str(base / "fake.pdf"), "--certificate", item["text"], "-o",
        str(base / "y.pdf"),
    )  # fmt: skip
    assert status == 3
    assert obj["error"]["code"] == "FMT-10"


def test_stamp_refuses_an_unreadable_certificate(
    linked: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = linked["base"]
    doc = blank_pdf(base / "extract-3.pdf", pages=1)
    status, obj = cli_json(
        capsys, "qr", "stamp", str(doc), "--certificate", LINK + "#1999", "-o", str(base / "z.pdf")
    )
    assert status == 3  # an unreadable certificate
    assert obj["error"]["code"].startswith("CRT-0")
