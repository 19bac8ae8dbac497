"""Signatures built element by element, for the differential test of the one-pass parser.

Bit flips of real signatures rarely reach the shapes where the one-pass
parser (``core/_sigparse.py``) and the reference parser could read the same
bytes differently: metadata links and their padding, legacy ids, level
corrections (explicit zero, 255, 256), several chains, left/right mixes,
TLV16 headers and N/F flags on links and their children, unknown elements,
duplicates and elements out of order, unknown non-critical elements at
every level, RFC 3161 records, multi-byte chain indices and times, and the
usual calendar authentication record (2048-bit RSA) with its near misses.
:func:`signature` builds such
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

    def unknown(self) -> bytes:
        """An element no template knows: non-critical (kept) or, as a defect, critical."""
        typ = self.rng.choice([0x1D, 0x1F, 0x19, 0x499, 0x7FF])
        value = self.rng.randbytes(self.rng.choice([0, 1, 3]))
        flags = 0x00 if self.bad(0.5) else 0x40  # N, or (a defect) none
        if self.chance(0.5):
            flags |= 0x20  # F
        if typ > 0x1F or self.chance(0.3):
            head = bytes((0x80 | flags | (typ >> 8), typ & 0xFF)) + len(value).to_bytes(2, "big")
        else:
            head = bytes((flags | typ, len(value)))
        return head + value

    def maybe_unknown(self) -> bytes:
        """Usually nothing; sometimes an unknown element (see :meth:`unknown`)."""
        return self.unknown() if self.chance(0.06) or self.bad(0.05) else b""

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
        if kids and self.chance(0.1) and (kids[0][0] != 0x1E or self.bad(1)):
            self.rng.shuffle(kids)  # padding out of first place is a defect
        out = b""
        for typ, value in kids:
            element = self.enc(typ, value)
            if typ == 0x1E and self.chance(0.8):  # the N and F flags KSI writers set
                element = bytes((element[0] | 0x60,)) + element[1:]
            out += element
        return out

    def legacy_id(self) -> bytes:
        """A 29-byte legacy id (names of 0 to 25 bytes); as a defect, one that fails its check.

        The defects: short or long, a bad prefix, non-zero padding, a name
        length over 25, a name that is not UTF-8.
        """
        name = _LEGACY_NAME
        if self.chance(0.5):
            name = bytes([self.rng.choice(b"abcXYZ-_.09") for _ in range(self.rng.randint(0, 25))])
        if self.bad(0.05):
            name = self.rng.choice([b"\xff\xfe", b"a" * 26])
        value = b"\x03\x00" + bytes((len(name),)) + name
        value += bytes(max(0, 29 - len(value)))
        if self.bad(0.3):
            return self.rng.choice(
                [value[:-1], value + b"\x00", value[:-1] + b"\x01", b"\x03\x01" + value[2:]]
            )
        return value

    def aggregation_link(self) -> bytes:
        """A left or right link: an optional level correction and one sibling of one kind."""
        kids: list[tuple[int, bytes]] = []
        if self.chance(0.3):
            # Zero (an empty value), one byte, and (defects) two to six bytes.
            correction = self.rng.choice([0, 1, 3, 254, 255, self.rng.randint(1, 255)])
            if self.bad(0.1):
                correction = self.rng.choice([256, 0xFFFF, 1 << 40])
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
        body += self.maybe_unknown()
        direction = self.rng.choice([6, 9]) if self.bad(0.03) else self.rng.choice([7, 8])
        return self.enc(direction, body)

    def time(self) -> int:
        """A time in seconds: usually four bytes, sometimes three or five."""
        return self.rng.choice([1_700_000_000, 1_700_000_000, 0x5FFFDF, 1 << 33])

    def aggregation_chain(self, index: list[int]) -> bytes:
        """A 0x801 element with ``index`` as its chain index and one to six links (or 30)."""
        kids: list[tuple[int, bytes] | None] = [(0x02, self.uint(self.time()))]
        kids.extend((0x03, self.uint(i)) for i in index)
        if self.chance(0.1):
            kids.append((0x04, b"input data"))
        kids.append((0x05, self.imprint()))
        algorithm = self.rng.choice([0, 3, 0x20]) if self.bad(0.1) else self.rng.choice([1, 1, 8])
        kids.append((0x06, self.uint(algorithm)))
        links = 0 if self.bad(0.03) else self.rng.choice([1, 2, 3, 4, 5, 6] * 3 + [30])
        kids.extend([None] * links)  # None: a link, drawn in place
        if self.bad(0.05):
            kids.append((self.rng.choice([0x02, 0x05, 0x06, 0x10]), b"\x01"))
        if self.chance(0.2):
            self.rng.shuffle(kids)
        body = b"".join(self.aggregation_link() if kid is None else self.enc(*kid) for kid in kids)
        return self.enc(0x801, self.maybe_unknown() + body + self.maybe_unknown())

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
        body = b"".join(self.enc(t, v) for t, v in kids)
        return self.enc(0x802, self.maybe_unknown() + body + self.maybe_unknown())

    def published_data(self) -> bytes:
        """A 0x10 element (with the F flag as KSI writers set it, or without)."""
        element = self.enc(
            0x10, self.enc(0x02, self.uint(self.time())) + self.enc(0x04, self.imprint())
        )
        if self.chance(0.5):
            element = bytes((element[0] | 0x20,)) + element[1:]
        return element

    def signature_data(self) -> bytes:
        """A 0x0B element: usually SHA-256 with RSA-2048 and a four-byte id, as issued.

        Its near misses too: other lengths of the value and the id, another
        OID, a repository URI, an element twice or missing.
        """
        oid = b"1.2.840.113549.1.1.11\x00"
        if self.chance(0.1):
            oid = self.rng.choice([b"1.2.840.113549.1.1.12\x00", b"1.2.840.113549.1.1.1\x00"])
        if self.bad(0.05):
            oid = self.rng.choice([b"1.2.840.113549.1.1.11", b"1.2.840.113549.1.1.1\xff\x00"])
        size = self.rng.choice([256, 256, 256, 255, 257, 3])
        kids = [(0x01, oid), (0x02, self.rng.randbytes(size))]
        kids.append((0x03, self.rng.randbytes(self.rng.choice([4, 4, 4, 3, 5, 0]))))
        if self.chance(0.2):
            kids.append((0x04, self.utf8()))
        if self.bad(0.1):
            kids.append(self.rng.choice(kids))  # twice
        if self.bad(0.05):
            del kids[self.rng.randrange(len(kids))]
        if self.chance(0.1):
            self.rng.shuffle(kids)
        return self.enc(0x0B, b"".join(self.enc(t, v) for t, v in kids))

    def rfc3161_record(self, index: list[int]) -> bytes:
        """A 0x806 element with ``index`` as its chain index (fields in any order)."""
        kids = [(0x02, self.uint(self.time()))]
        kids.extend((0x03, self.uint(i)) for i in index)
        kids.append((0x05, self.imprint()))
        kids.append((0x10, self.rng.randbytes(self.rng.choice([38, 0, 2]))))
        kids.append((0x11, self.rng.randbytes(self.rng.choice([68, 0, 1]))))
        kids.append((0x12, self.uint(self.rng.choice([1, 1, 0, 8, 4]))))
        kids.append((0x13, self.rng.randbytes(self.rng.choice([47, 0]))))
        kids.append((0x14, self.rng.randbytes(self.rng.choice([0, 0, 5]))))
        kids.append((0x15, self.uint(self.rng.choice([1, 1, 5]))))
        if self.bad(0.15):  # an algorithm id that is reserved, unknown or too wide
            typ = self.rng.choice([0x12, 0x15])
            bad = self.uint(self.rng.choice([3, 0x20, 0x101]))
            kids = [(t, bad if t == typ else v) for t, v in kids]
        if self.bad(0.1):
            del kids[self.rng.randrange(len(kids))]
        if self.bad(0.1):
            kids.append(self.rng.choice(kids))  # twice (an index twice is fine)
        if self.chance(0.3):
            self.rng.shuffle(kids)
        body = b"".join(self.enc(t, v) for t, v in kids)
        return self.enc(0x806, self.maybe_unknown() + body + self.maybe_unknown())

    def signature(self) -> bytes:
        """A 0x800 element: one to six chains, maybe a calendar chain and an anchor record.

        Sometimes an RFC 3161 record (a converted legacy timestamp) before the chains.
        """
        count = self.rng.choice([1, 1, 1, 2, 2, 3, 6])
        index = [self.rng.choice([1, 2, 5, 13, 0x5FFFDF])]
        indices = []
        for _ in range(count):
            indices.append(list(index))
            index = [*index, self.rng.choice([1, 3, 6, 0x1E6D6FBF38, 0])]
        indices.reverse()  # the leaf-most chain (longest index) first, as written
        if self.chance(0.2):
            self.rng.shuffle(indices)  # the parsers sort them
        parts = [self.aggregation_chain(i) for i in indices]
        if self.chance(0.2) or self.bad(0.1):
            parts.insert(0, self.rfc3161_record(indices[0] + [self.rng.choice([1, 5])]))
        anchor = self.rng.random()
        if (self.chance(0.7) or anchor < 0.6) and not self.bad(0.1):
            parts.append(self.calendar_chain())
        if anchor < 0.3:
            refs = self.enc(0x09, self.utf8()) if self.chance(0.5) else b""
            parts.append(self.enc(0x803, self.published_data() + refs + self.maybe_unknown()))
        elif anchor < 0.6:
            kids = [self.published_data(), self.signature_data()]
            if self.chance(0.1):
                kids.reverse()
            parts.append(self.enc(0x805, b"".join(kids) + self.maybe_unknown()))
        if self.bad(0.05):
            parts.append(bytes((0xC0, 0x09, 0, 1)) + b"x")  # unknown, non-critical
        parts.append(self.maybe_unknown())
        if self.chance(0.1):
            self.rng.shuffle(parts)
        return self.enc(0x800, b"".join(parts))


def signature(seed: int) -> bytes:
    """The signature of ``seed``: a quarter clean, the rest with more and more defects."""
    rng = random.Random(seed)
    return Shapes(rng, rng.choice([0.0, 0.0, 0.2, 1.0])).signature()
