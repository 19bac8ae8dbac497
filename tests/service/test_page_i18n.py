"""The page's gettext catalogues: complete, compiled from their sources, used."""

from __future__ import annotations

import gettext
import io

import pytest

from jura_trust.service.i18n import LANGUAGES, compile_po, negotiate, parse_po, po_path
from jura_trust.service.page import _MARKER, _STATIC_DIR, SCRIPT_MESSAGES


def used_messages() -> set[str]:
    template = (_STATIC_DIR / "page.html").read_text(encoding="utf-8")
    ids = {" ".join(m.group(2).split()) for m in _MARKER.finditer(template) if not m.group(1)}
    return ids | set(SCRIPT_MESSAGES.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_mo_is_what_the_po_compiles_to(language: str) -> None:
    source = po_path(language)
    compiled = compile_po(source.read_text(encoding="utf-8"), name=str(source))
    assert source.with_suffix(".mo").read_bytes() == compiled, (
        f"{source.with_suffix('.mo')} is stale: run python -m jura_trust.service.i18n"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_has_every_message_the_page_uses_and_no_other(language: str) -> None:
    text = po_path(language).read_text(encoding="utf-8")
    ids = set(_all_ids(text))
    used = used_messages()
    assert used - ids == set(), "messages missing from the catalogue"
    assert ids - used - {""} == set(), "messages the page no longer uses"
    translated = parse_po(text)
    if language != "en":
        missing = {i for i in used if i not in translated}
        assert missing == set(), f"untranslated in {language}"
        for ident in used:
            for placeholder in ("{date}", "{office}", "{anchor}", "{code}", "{issuer}"):
                assert (placeholder in ident) == (placeholder in translated[ident]), ident


def _all_ids(text: str) -> list[str]:
    return [line[7:-1] for line in text.splitlines() if line.startswith('msgid "')]


def test_compiled_catalogue_reads_back_with_the_standard_library() -> None:
    po = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    po += 'msgid "Hello \\"you\\""\nmsgstr ""\n"Grüezi "\n"\\"du\\""\n\nmsgid "Untranslated"\nmsgstr ""\n'
    catalogue = gettext.GNUTranslations(io.BytesIO(compile_po(po)))
    assert catalogue.gettext('Hello "you"') == 'Grüezi "du"'
    assert catalogue.gettext("Untranslated") == "Untranslated"


@pytest.mark.parametrize(
    "bad",
    [
        'msgid "a"\nmsgid_plural "b"\n',
        'msgctxt "x"\nmsgid "a"\nmsgstr "b"\n',
        'msgstr "b"\n',
        'msgid "a"\nmsgstr "b"\nmsgid "a"\nmsgstr "c"\n',
        'msgid a\nmsgstr "b"\n',
        '"orphan"\n',
    ],
)
def test_po_reader_refuses_what_the_page_does_not_use(bad: str) -> None:
    with pytest.raises(ValueError, match=r"catalogue:\d+"):
        parse_po(bad)


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "fr"),
        ("de", None, "de"),
        ("EN", "de", "en"),
        ("it", "de", "de"),
        (None, "de-CH;q=0.4, en;q=0.8", "en"),
        (None, "en;q=0, de;q=0.1", "de"),
        (None, "*", "fr"),
        (None, "en;q=abc", "fr"),
        (None, "x" * 10_000, "fr"),
    ],
)
def test_language_negotiation(query: str | None, header: str | None, expected: str) -> None:
    assert negotiate(query, header) == expected
