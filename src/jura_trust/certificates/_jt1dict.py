"""The zlib preset dictionary of JT1 envelope version 2 (part of the format).

FORMAT-CRITICAL: a version 2 text compressed with this dictionary names it
by its Adler-32 (RFC 1950 ``DICTID``) and cannot be read without the very
same bytes. Never change a byte of it: a different dictionary needs a new
envelope version. :data:`ZDICT_V2_SHA256` pins the bytes and the module
refuses to load if they drift.

What it holds: byte strings that recur in self-contained certificates,
whose bulk is the seal's KSI signature from a jura_trust calendar. Deflate
copies any run of three or more bytes found in the dictionary for about
three bytes, so each entry that occurs in a text costs a few bytes
instead of its length. In this order (later entries are closer to the
data, so slightly cheaper to copy):

1. CBOR fragments of the seal record: the seal body's head
   ``{1: 1, 2: h'01..'`` (``a6 01 01 02 58 21 01``) and the COSE protected
   header's content type ``3: "application/jura-trust.seal+cbor"``
   (``03 78 20`` + the text);
2. TLV fragments of a jura_trust KSI signature: the aggregator's default
   client id as metadata (``01 0b "jura-trust" 00``), and the calendar
   authentication record's signature type, the OID of sha256WithRSAEncryption
   (``01 16 "1.2.840.113549.1.1.11" 00``);
3. for every height ``h`` from 0 to 40, a calendar chain's *left* link
   TLV whose sibling is the root of a complete filler subtree of height
   ``h`` (``07 21`` + :func:`~jura_trust.core.calendar.filler_root`),
   then the same as *right* links (``08 21`` + the root). A jura_trust
   calendar holds filler for every quiet second, so a signature's calendar
   chain is mostly such links, in increasing height: consecutive heights
   are adjacent here, so one copy covers several links.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Final

from jura_trust.core.calendar import filler_root

__all__ = ["ZDICT_V2", "ZDICT_V2_HEIGHTS", "ZDICT_V2_ID", "ZDICT_V2_SHA256"]

#: The filler subtree heights whose roots the dictionary holds (0..40).
ZDICT_V2_HEIGHTS: Final = range(41)

#: SHA-256 (hex) of :data:`ZDICT_V2`: the dictionary's identity, pinned.
ZDICT_V2_SHA256: Final = "5ad01ce320b35f70386e4f94c5d4037fe6b8db59aefc8b41683cfaac4dc0bc94"

_LEFT_LINK: Final = b"\x07\x21"
_RIGHT_LINK: Final = b"\x08\x21"


def _build() -> bytes:
    parts = [
        b"\xa6\x01\x01\x02\x58\x21\x01",
        b"\x03\x78\x20application/jura-trust.seal+cbor",
        b"\x01\x0bjura-trust\x00",
        b"\x01\x161.2.840.113549.1.1.11\x00",
    ]
    parts.extend(_LEFT_LINK + filler_root(h) for h in ZDICT_V2_HEIGHTS)
    parts.extend(_RIGHT_LINK + filler_root(h) for h in ZDICT_V2_HEIGHTS)
    return b"".join(parts)


#: The dictionary's bytes.
ZDICT_V2: Final = _build()

#: Its RFC 1950 ``DICTID`` (Adler-32), as written in version 2 streams.
ZDICT_V2_ID: Final = zlib.adler32(ZDICT_V2) & 0xFFFFFFFF

if hashlib.sha256(ZDICT_V2).hexdigest() != ZDICT_V2_SHA256:  # pragma: no cover
    raise RuntimeError("the JT1 version 2 preset dictionary changed: that breaks the format")
