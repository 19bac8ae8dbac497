"""The residents' page in French, German and English: gettext catalogues (layer 10).

The page's texts live in gettext catalogues under ``service/locale``:
``LANG/LC_MESSAGES/page.po`` (the source, edited by translators) and
``page.mo`` (compiled, read at run time by the standard library's
:mod:`gettext`). Message ids are the English texts; the English catalogue
only sets the header, so English falls back to the ids.

:func:`compile_po` is a small ``msgfmt``: it turns a ``.po`` file into
``.mo`` bytes (the GNU format :class:`gettext.GNUTranslations` reads).
Regenerate the committed ``.mo`` files after editing a ``.po`` with::

    python -m jura_trust.service.i18n

(a test checks that every committed ``.mo`` is exactly what its ``.po``
compiles to).

:func:`negotiate` picks the page language: ``?lang=`` first, then the
browser's ``Accept-Language`` (with its q-values), then French, the
Canton's first language.
"""

from __future__ import annotations

import ast
import gettext
import io
import struct
from functools import cache
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "catalogue",
    "compile_po",
    "negotiate",
    "parse_po",
    "po_path",
]

#: The page's languages, in order of preference when nothing else decides.
LANGUAGES: Final = ("fr", "de", "en")
#: The page speaks French unless asked otherwise.
DEFAULT_LANGUAGE: Final = "fr"
#: The gettext domain of the page's catalogues.
DOMAIN: Final = "page"
#: Where the catalogues live (inside the package).
LOCALE_DIR: Final = Path(__file__).parent / "locale"

_MO_MAGIC: Final = 0x950412DE
_MAX_ACCEPT_LANGUAGE: Final = 512


def _unquote(token: str, where: str) -> str:
    if not (token.startswith('"') and token.endswith('"')) or len(token) < 2:
        raise ValueError(f"{where}: expected a quoted string, got {token!r}")
    # A .po string is a C string; Python's literal syntax reads the same escapes.
    value = ast.literal_eval(token)
    if not isinstance(value, str):  # pragma: no cover - a quoted literal is a str
        raise ValueError(f"{where}: not a string")
    return value


def parse_po(text: str, *, name: str = "catalogue") -> dict[str, str]:
    """The messages of a ``.po`` file: ``{msgid: msgstr}`` (untranslated ones left out).

    Supports what the page's catalogues use: comments, ``msgid``/``msgstr``
    with continuation lines, and the header (msgid ``""``). Plural forms
    and contexts are refused (:class:`ValueError`), as are duplicates.
    """
    messages: dict[str, str] = {}
    key: str | None = None
    current: list[str] | None = None
    msgid: list[str] = []
    msgstr: list[str] = []

    def flush(lineno: int) -> None:
        nonlocal key
        if key is None:
            return
        ident = "".join(msgid)
        if ident in messages:
            raise ValueError(f"{name}:{lineno}: msgid {ident!r} appears twice")
        value = "".join(msgstr)
        if value:
            messages[ident] = value
        key = None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name}:{lineno}"
        if line.startswith(("msgctxt", "msgid_plural", "msgstr[")):
            raise ValueError(f"{where}: contexts and plural forms are not used by the page")
        if line.startswith("msgid "):
            flush(lineno)
            key = "msgid"
            msgid, msgstr = [_unquote(line[6:].strip(), where)], []
            current = msgid
        elif line.startswith("msgstr "):
            if key != "msgid":
                raise ValueError(f"{where}: msgstr without msgid")
            key = "msgstr"
            msgstr = [_unquote(line[7:].strip(), where)]
            current = msgstr
        elif line.startswith('"'):
            if current is None:
                raise ValueError(f"{where}: a string outside a message")
            current.append(_unquote(line, where))
        else:
            raise ValueError(f"{where}: cannot read {line!r}")
    flush(0)
    return messages


def compile_po(text: str, *, name: str = "catalogue") -> bytes:
    """The GNU ``.mo`` bytes of a ``.po`` text (keys sorted, no hash table)."""
    messages = parse_po(text, name=name)
    ids = sorted(messages)
    id_blob = io.BytesIO()
    str_blob = io.BytesIO()
    id_index: list[tuple[int, int]] = []
    str_index: list[tuple[int, int]] = []
    for ident in ids:
        data = ident.encode("utf-8")
        id_index.append((len(data), id_blob.tell()))
        id_blob.write(data + b"\0")
        data = messages[ident].encode("utf-8")
        str_index.append((len(data), str_blob.tell()))
        str_blob.write(data + b"\0")
    count = len(ids)
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + 8 * count
    ids_start = strs_table + 8 * count
    strs_start = ids_start + id_blob.tell()
    out = io.BytesIO()
    out.write(struct.pack("<7I", _MO_MAGIC, 0, count, ids_table, strs_table, 0, 0))
    for length, offset in id_index:
        out.write(struct.pack("<2I", length, ids_start + offset))
    for length, offset in str_index:
        out.write(struct.pack("<2I", length, strs_start + offset))
    out.write(id_blob.getvalue())
    out.write(str_blob.getvalue())
    return out.getvalue()


def po_path(language: str) -> Path:
    """The ``.po`` file of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (one of :data:`LANGUAGES`)."""
    if language not in LANGUAGES:
        raise ValueError(f"the page speaks {', '.join(LANGUAGES)}, not {language!r}")
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])


def negotiate(query: str | None, accept_language: str | None) -> str:
    """The page language for a ``?lang=`` value and an ``Accept-Language`` header.

    >>> negotiate(None, "de-CH,de;q=0.9,en;q=0.5")
    'de'
    >>> negotiate("en", "de")
    'en'
    >>> negotiate(None, "it-CH, es;q=0.8")
    'fr'
    """
    if query:
        wanted = query.strip().lower()[:8]
        if wanted in LANGUAGES:
            return wanted
    if accept_language:
        choices: list[tuple[float, int, str]] = []
        for position, item in enumerate(accept_language[:_MAX_ACCEPT_LANGUAGE].split(",")):
            tag, _, params = item.strip().partition(";")
            base = tag.strip().lower().split("-", 1)[0]
            quality = 1.0
            params = params.strip()
            if params.startswith("q="):
                try:
                    quality = float(params[2:])
                except ValueError:
                    quality = 0.0
            if base in LANGUAGES and 0.0 < quality <= 1.0:
                choices.append((-quality, position, base))
        if choices:
            return min(choices)[2]
    return DEFAULT_LANGUAGE


def _write_all() -> None:  # pragma: no cover - a maintainer's command
    for language in LANGUAGES:
        source = po_path(language)
        target = source.with_suffix(".mo")
        target.write_bytes(compile_po(source.read_text(encoding="utf-8"), name=str(source)))
        print(f"wrote {target}")


if __name__ == "__main__":  # pragma: no cover
    _write_all()
