"""Print-ready labels: languages, field labels, Zurich dates, physical sizes, PNG and SVG."""

from __future__ import annotations

import io
import json
import xml.dom.minidom
from datetime import UTC, datetime
from importlib import resources

import pytest
from PIL import Image

from jura_trust import qr
from jura_trust.certificates.label import (
    LANGUAGES,
    format_date,
    format_datetime,
    label_language,
    label_png,
    label_svg,
    label_texts,
    layout_label,
    render_label_svg,
)
from jura_trust.errors import CertificateError, ErrorCode
from tests.certificates.jt1_helpers import document
from tests.certificates.test_jt1 import issue

LINK = "https://qr.jura.ch/"
FIELDS = {"nom": "Müller-Lüdenscheidt", "prenom": "Zoë Anaïs", "adresse": "Rue de l'Église 12"}


@pytest.fixture(scope="module")
def cert() -> object:
    return issue(docs=[document(fields=FIELDS)]).certificates[0]


def texts_of(svg: str) -> list[str]:
    dom = xml.dom.minidom.parseString(svg)
    return ["".join(n.data for n in t.childNodes) for t in dom.getElementsByTagName("text")]


def test_label_svg_is_in_millimetres_with_a_viewbox_and_a_white_background(cert: object) -> None:
    label = layout_label(cert, module_mm=0.5)  # type: ignore[arg-type]
    root = xml.dom.minidom.parseString(label_svg(label)).documentElement
    assert root.getAttribute("width").endswith("mm")
    assert root.getAttribute("height").endswith("mm")
    width = float(root.getAttribute("width")[:-2])
    assert (
        root.getAttribute("viewBox")
        == f"0 0 {root.getAttribute('width')[:-2]} {root.getAttribute('height')[:-2]}"
    )
    background = root.getElementsByTagName("rect")[0]
    assert background.getAttribute("fill") == "#fff"
    assert float(background.getAttribute("width")) == width
    # the code's modules are exactly 0.5 mm: a scale of 0.5 user units (mm) per module
    group = root.getElementsByTagName("g")[0]
    assert "scale(0.5)" in group.getAttribute("transform")
    assert label.qr_side == (label.symbol.size + 8) * 0.5


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fr", ["Extrait du registre des poursuites", "Émis par", "Date de naissance\u00a0: 12 avril 1980",
                "Nom\u00a0: Müller-Lüdenscheidt", "Prénom\u00a0: Zoë Anaïs", "Adresse\u00a0: Rue de l'Église 12",
                "Statut\u00a0: aucune poursuite", "Scannez ce code avec l'appareil photo de votre téléphone"]),
        ("de", ["Auszug aus dem Betreibungsregister", "Ausgestellt von", "Geburtsdatum: 12. April 1980",
                "Scannen Sie diesen Code mit der Kamera Ihres Telefons"]),
        ("en", ["Extract from the debt enforcement register", "Issued by", "Date of birth: 12 April 1980",
                "Scan this code with your phone's camera"]),
    ],
)  # fmt: skip
def test_link_label_speaks_the_residents_language(
    cert: object, lang: str, words: list[str]
) -> None:
    svg = render_label_svg(
        cert, lang=lang, link_base=LINK, issuer_name="Office des poursuites du Jura"
    )  # type: ignore[arg-type]
    lines = texts_of(svg)
    for word in words:
        assert any(word in line for line in lines), (word, lines)
    assert any("Office des poursuites du Jura" in line for line in lines)
    assert f'lang="{lang}"' in svg


def test_plain_label_does_not_promise_the_phone_camera(cert: object) -> None:
    lines = texts_of(render_label_svg(cert))  # type: ignore[arg-type]
    assert not any("appareil photo" in line for line in lines)
    assert any("application de vérification" in line for line in lines)


def test_label_dates_are_europe_zurich_written_out() -> None:
    winter = datetime(2023, 11, 14, 22, 13, tzinfo=UTC)  # CET, UTC+1
    summer = datetime(2024, 7, 1, 22, 30, tzinfo=UTC)  # CEST, UTC+2: the next day in Zurich
    assert format_datetime(winter, "fr") == "14 novembre 2023, 23 h 13"
    assert format_datetime(summer, "fr") == "2 juillet 2024, 00 h 30"
    assert format_datetime(summer, "de") == "2. Juli 2024, 00.30 Uhr"
    assert format_datetime(summer, "en") == "2 July 2024, 00:30"
    assert format_date(datetime(1980, 8, 1).date(), "fr") == "1 août 1980"
    with pytest.raises(ValueError, match="aware"):
        format_datetime(datetime(2024, 1, 1), "fr")


def test_issue_time_on_the_label_is_zurich_time(cert: object) -> None:
    lines = texts_of(render_label_svg(cert))  # type: ignore[arg-type]
    issued = cert.payload.issued_at  # type: ignore[attr-defined]
    assert any(format_datetime(issued, "fr") in line for line in lines)


def test_every_language_has_every_text_and_field_label() -> None:
    data = json.loads(
        resources.files("jura_trust.certificates").joinpath("data/labels.json").read_text("utf-8")
    )
    keys = set(data["texts"]["fr"])
    for lang in LANGUAGES:
        assert set(label_texts(lang)) == keys
        assert len(label_texts(lang)["months"]) == 12
    for description in data["document_types"].values():
        assert set(description["title"]) == set(LANGUAGES)
        for field in description["fields"]:
            assert set(field["label"]) == set(LANGUAGES), field["name"]


def test_undescribed_document_type_shows_its_own_field_names() -> None:
    other = issue(docs=[document(document_type="permit", fields={"zone": "B"})]).certificates[0]
    lines = texts_of(render_label_svg(other))
    assert "permit" in lines[0]
    assert any("zone" in line and "B" in line for line in lines)


def test_label_language_follows_the_document() -> None:
    assert label_language("de-CH") == "de"
    assert label_language("en") == "en"
    assert label_language("it") == "fr"
    assert label_language(None) == "fr"
    with pytest.raises(ValueError, match="fr, de, en"):
        label_texts("it")  # type: ignore[arg-type]


def test_label_png_has_its_dpi_and_its_code_decodes(cert: object) -> None:
    label = layout_label(cert, link_base=LINK, module_mm=0.4)  # type: ignore[arg-type]
    png = label_png(label, dpi=300)
    image = Image.open(io.BytesIO(png))
    assert tuple(round(v) for v in image.info["dpi"]) == (300, 300)
    assert qr.read_qr(png) == [cert.link(LINK)]  # type: ignore[attr-defined]
    # at least as wide as the label in millimetres says
    assert image.size[0] >= round(label.width * 300 / 25.4)


def test_label_modules_below_a_third_of_a_millimetre_are_refused(cert: object) -> None:
    with pytest.raises(CertificateError) as info:
        layout_label(cert, module_mm=0.3)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.CRT_PRINT_SIZE


def test_pinned_version_gives_labels_of_one_size() -> None:
    batch = issue(docs=[document(fields={"nom": "A"}), document(fields={"nom": "B" * 300})])
    texts = [c.text() for c in batch.certificates]
    pinned = max(qr.qr_fit(t).version for t in texts)
    labels = [layout_label(c, version=pinned) for c in batch.certificates]
    assert {label.symbol.version for label in labels} == {pinned}
    assert labels[0].qr_side == labels[1].qr_side


@pytest.mark.parametrize("lang", LANGUAGES)
def test_label_png_never_cuts_text_at_its_right_edge(cert: object, lang: str) -> None:
    from PIL import ImageOps

    label = layout_label(
        cert, lang=lang, link_base=LINK, issuer_name="Office des poursuites du Jura"
    )  # type: ignore[arg-type]
    with Image.open(io.BytesIO(label_png(label, dpi=200))) as image:
        ink = ImageOps.invert(image.convert("L")).getbbox()
        assert ink is not None
        margin = round(4 * 200 / 25.4)  # the label's 4 mm margin
        assert ink[2] <= image.size[0] - margin + 1


def test_label_times_without_time_zone_data_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import zoneinfo

    from jura_trust.errors import JuraError

    def missing(key: str) -> None:
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", missing)
    with pytest.raises(JuraError) as info:
        format_datetime(datetime(2024, 1, 1, tzinfo=UTC), "fr")
    assert info.value.code is ErrorCode.SVC_CONFIG
    assert "tzdata" in info.value.message
