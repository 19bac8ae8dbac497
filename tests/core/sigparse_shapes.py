"""Signatures built element by element, for the differential test of the one-pass parser.

Bit flips of real signatures rarely reach the shapes where the one-pass
parser (``core/_sigparse.py``) and the reference parser could read the same
bytes differently: metadata links and their padding, legacy ids, level
corrections (explicit zero, 255, 256), several chains, left/right mixes,
TLV16 headers and N/F flags on links and their children, unknown elements,
duplicates and elements out of order. :func:`signature` builds such
signatures from a seeded random generator; ``noise`` (0..1) scales how
often a part is malformed, so a low noise gives mostly well-formed
signatures (the fast path's own ground) and a high one mostly defects.
"""

from __future__ import annotations

import random

_LEGACY_NAME = b"GT"


class Shapes:
    """One signature's random choices (``rng``) and its defect rate (``noise``)."""

    def __init__(self, rng: random.Random, noise: float) -> None:
        self.rng = rng
        self.noise = noise

    def bad(self, p: float) -> bool:
        """A defect of base probability ``p``, scaled by the noise."""
        return self.rng.random() < p * self.noise

    def chance(self, p: float) -> bool:
        """A well-formed variation of probability ``p``."""
        return self.rng.random() < p

    def enc(self, typ: int, value: bytes) -> bytes:
        """An element, sometimes with the N or F flag or a TLV16 header it does not need."""
        n = 0x40 if self.bad(0.08) else 0
        f = 0x20 if self.bad(0.08) else 0
        if self.chance(0.08) or typ > 0x1F or len(value) > 0xFF:
            head = bytes((0x80 | n | f | (typ >> 8), typ & 0xFF)) + len(value).to_bytes(2, "big")
            return head + value
        return bytes((n | f | typ, len(value))) + value

    def uint(self, n: int) -> bytes:
        """``n`` minimally encoded, or (as a defect) with a leading zero or too long."""
        value = n.to_bytes((n.bit_length() + 7) // 8, "big")
        if self.bad(0.05):
            return b"\x00" + value
        if self.bad(0.03):
            return b"\x01" * 9
        return value

    def imprint(self) -> bytes:
        """A SHA-256 imprint; as a defect, another algorithm, a bad length or none."""
        if self.bad(0.3):
            return self.rng.choice(
                [b"\x00" + bytes(20), b"\x08" + bytes(32), b"\x01" + bytes(31), b"\x03" + bytes(32)]
            )
        return b"\x01" + self.rng.randbytes(32)

    def utf8(self) -> bytes:
        """A string value; as a defect, without its NUL, with an inner NUL or not UTF-8."""
        if self.bad(0.1):
            return self.rng.choice([b"\xff\x00", b"a\x00b\x00", b"alice"])
        return self.rng.choice([b"alice", b"", "\u00e4".encode()]) + b"\x00"

    def metadata(self) -> bytes:
        """A metadata element's value: padding (or not), ids, numbers, sometimes reordered."""
        kids: list[tuple[int, bytes]] = []
        if self.chance(0.7):
            pad = self.rng.choice([b"", b"\x02"]) if self.bad(0.3) else b"\x01"
            kids.append((0x1E, self.rng.choice([pad, b"\x01\x01"])))
        if not self.bad(0.1):
            kids.append((0x01, self.utf8()))
        if self.chance(0.4):
            kids.append((0x02, self.utf8()))
        if self.chance(0.5):
            kids.append((0x03, self.uint(self.rng.choice([0, 1, 300]))))
        if self.chance(0.5):
            kids.append((0x04, self.uint(1_700_000_000_000_000)))
        if self.bad(0.1):
            kids.append((self.rng.choice([0x01, 0x1E, 0x05, 0x1F]), self.utf8()))
        if self.chance(0.1):
            self.rng.shuffle(kids)
        out = b""
        for typ, value in kids:
            element = self.enc(typ, value)
            if typ == 0x1E and self.chance(0.8):  # the N and F flags KSI writers set
                element = bytes((element[0] | 0x60,)) + element[1:]
            out += element
        return out

    def legacy_id(self) -> bytes:
        """A 29-byte legacy id; as a defect, short, with a bad prefix or non-zero padding."""
        value = b"\x03\x00" + bytes((len(_LEGACY_NAME),)) + _LEGACY_NAME
        value += bytes(29 - len(value))
        if self.bad(0.3):
            return self.rng.choice([value[:-1], value[:-1] + b"\x01", b"\x03\x01" + value[2:]])
        return value

    def aggregation_link(self) -> bytes:
        """A left or right link: an optional level correction and one sibling of one kind."""
        kids: list[tuple[int, bytes]] = []
        if self.chance(0.3):
            correction = self.rng.choice([0, 1, 3, 254, 255] + ([256, 1 << 40] * self.bad(1)))
            kids.append((0x01, self.uint(correction)))
        kinds = [self.rng.choice("ssssmml")]
        if self.bad(0.1):
            kinds = self.rng.choice([[], ["s", "m"], ["s", "s"], ["l", "m"], ["s", "l"]])
        for kind in kinds:
            if kind == "s":
                kids.append((0x02, self.imprint()))
            elif kind == "m":
                kids.append((0x04, self.metadata()))
            else:
                kids.append((0x03, self.legacy_id()))
        if self.bad(0.15):  # a second level correction, or a first one out of place
            kids.append((0x01, self.uint(2)))
        if self.bad(0.05):
            kids.append((self.rng.choice([0x05, 0x10, 0x1F]), b"x"))
        if self.chance(0.3):
            self.rng.shuffle(kids)
        body = b""
        for typ, value in kids:
            element = self.enc(typ, value)
            if typ > 0x04 and self.chance(0.5):  # an unknown element, non-critical
                element = bytes((element[0] | 0x40,)) + element[1:]
            body += element
        direction = self.rng.choice([6, 9]) if self.bad(0.03) else self.rng.choice([7, 8])
        return self.enc(direction, body)

    def aggregation_chain(self, index: list[int]) -> bytes:
        """A 0x801 element with ``index`` as its chain index and one to six links."""
        kids: list[tuple[int, bytes] | None] = [(0x02, self.uint(1_700_000_000))]
        kids.extend((0x03, self.uint(i)) for i in index)
        if self.chance(0.1):
            kids.append((0x04, b"input data"))
        kids.append((0x05, self.imprint()))
        algorithm = self.rng.choice([0, 3, 0x20]) if self.bad(0.1) else self.rng.choice([1, 1, 8])
        kids.append((0x06, self.uint(algorithm)))
        links = 0 if self.bad(0.03) else self.rng.randint(1, 6)
        kids.extend([None] * links)  # None: a link, drawn in place
        if self.bad(0.05):
            kids.append((self.rng.choice([0x02, 0x05, 0x06, 0x10]), b"\x01"))
        if self.chance(0.2):
            self.rng.shuffle(kids)
        body = b"".join(self.aggregation_link() if kid is None else self.enc(*kid) for kid in kids)
        return self.enc(0x801, body)

    def calendar_chain(self) -> bytes:
        """A 0x802 element: times, input hash and one to eight links."""
        kids = [(0x01, self.uint(1_700_004_000)), (0x05, self.imprint())]
        if self.chance(0.5):
            kids.append((0x02, self.uint(1_700_000_000)))
        links = 0 if self.bad(0.03) else self.rng.randint(1, 8)
        kids.extend((self.rng.choice([7, 8]), self.imprint()) for _ in range(links))
        if self.bad(0.05):
            kids.append((self.rng.choice([0x03, 0x01, 0x10]), b"\x01"))
        if self.chance(0.2):
            self.rng.shuffle(kids)
        return self.enc(0x802, b"".join(self.enc(t, v) for t, v in kids))

    def published_data(self) -> bytes:
        """A 0x10 element."""
        return self.enc(
            0x10, self.enc(0x02, self.uint(1_700_004_000)) + self.enc(0x04, self.imprint())
        )

    def signature(self) -> bytes:
        """A 0x800 element: one to three chains, maybe a calendar chain and an anchor record."""
        count = self.rng.choice([1, 1, 2, 3])
        index = [self.rng.choice([1, 2, 5, 13])]
        indices = []
        for _ in range(count):
            indices.append(list(index))
            index = [*index, self.rng.choice([1, 3, 6])]
        indices.reverse()  # the leaf-most chain (longest index) first, as written
        if self.chance(0.2):
            self.rng.shuffle(indices)  # the parsers sort them
        parts = [self.aggregation_chain(i) for i in indices]
        if self.chance(0.7) or self.bad(0.3):
            parts.append(self.calendar_chain())
        anchor = self.rng.random()
        if anchor < 0.3:
            refs = self.enc(0x09, self.utf8()) if self.chance(0.5) else b""
            parts.append(self.enc(0x803, self.published_data() + refs))
        elif anchor < 0.5:
            signed = self.enc(0x01, b"1.2.840.113549.1.1.11\x00") + self.enc(0x02, b"sig")
            signed += self.enc(0x03, b"id")
            if self.chance(0.3):
                signed += self.enc(0x04, self.utf8())
            parts.append(self.enc(0x805, self.published_data() + self.enc(0x0B, signed)))
        if self.bad(0.05):
            parts.append(bytes((0xC0, 0x09, 0, 1)) + b"x")  # unknown, non-critical
        if self.chance(0.1):
            self.rng.shuffle(parts)
        return self.enc(0x800, b"".join(parts))


def signature(seed: int) -> bytes:
    """The signature of ``seed``: a quarter clean, the rest with more and more defects."""
    rng = random.Random(seed)
    return Shapes(rng, rng.choice([0.0, 0.0, 0.2, 1.0])).signature()
