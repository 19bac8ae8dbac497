"""Express lane of verification: one pass over a signature's bytes (private).

CONSENSUS-CRITICAL, but it decides nothing on its own. The rule engine
(:mod:`jura_trust.verify.rules` run by :mod:`jura_trust.verify.policies`
on a parsed :class:`~jura_trust.core.signature.Signature`) defines every
outcome. This module answers the most common question, "is this signature
OK under the internal, key-based, publications-file or general policy?", for the
common shapes of a signature, in one pass over its bytes: it hashes each
link as it reads it and builds no object per chain or link.

The contract that keeps it safe:

* It only ever answers **OK**. Anything it does not handle, any defect, and
  any check that does not pass make :func:`verify_bytes` return ``None``;
  the caller then parses the bytes and runs the engine, which decides
  (every FAIL and NA, with its code and message, comes from the engine).
* Its OK is the engine's OK, field by field: the same policy name, the same
  steps (the engine's own shared OK results, in the order the engine
  records them), the same anchor and proven time. tests/verify/
  test_express.py holds the two equal on every test vector, bit flips,
  generated shapes and changed trust inputs; with ``JURA_TRUST_EXPRESS_CHECK``
  set (the test suite sets it) every express answer is checked against the
  engine on the spot.
* It reads a **subset** of what the one-pass parser
  (:mod:`jura_trust.core._sigparse`) reads, element by element with the same
  acceptance rules (its helpers are used for every element that is not a
  chain), so it never reads bytes the parsers would refuse.

Handled: signatures of aggregation chains (fields before links; plain,
level-corrected, legacy-id and metadata links), an optional calendar chain
of SHA-256 links, and a calendar authentication record or a publication
record; no input level, no user publication. Unknown non-critical
elements are read where the parser's own readers keep them (inside links
and publication records; no rule reads them) and declined elsewhere. The policies' tails:
key-based (the calendar certificate from the trusted publications file,
its validity at both times, the record's signature), publications-file
(the signature's own publication found in the file), and general when its
first alternative, the publications-file policy, is OK. Left to the engine:
everything else (RFC 3161 records, other unknown elements, extension, the
calendar and user-publication policies, general through the key, every
failure).
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jura_trust.core import _sigparse as sp
from jura_trust.core.chains import _time_from_directions
from jura_trust.core.hashing import IMPRINT_SIZES, HashAlgorithm, Imprint, hash_constructor
from jura_trust.core.publication import PublicationRecord
from jura_trust.core.tlv import MAX_INPUT_SIZE, TLV
from jura_trust.errors import JuraError
from jura_trust.verify import rules as r
from jura_trust.verify.engine import AllOf, Node, When
from jura_trust.verify.policies import (
    _INTERNAL_ONLY,
    _PUBFILE,
    KsiPolicy,
    general,
    internal,
    key_based,
    publications_file_based,
)
from jura_trust.verify.result import Anchor, RuleResult, VerificationResult

if TYPE_CHECKING:
    from jura_trust.publications import VerifiedPublicationsFile

__all__ = ["verify_bytes"]

#: Set (to anything but "" or "0") to check every express answer against the engine.
CHECK_ENV = "JURA_TRUST_EXPRESS_CHECK"
#: Whether every express answer is checked against the engine (read from
#: :data:`CHECK_ENV` at import; the test suite also sets it directly).
CHECK = os.environ.get(CHECK_ENV, "") not in ("", "0")


class _DeclineError(Exception):
    """Not a shape or an outcome the express lane answers: the engine decides."""


def _ok_steps(node: Node[Any]) -> tuple[RuleResult, ...]:
    """The steps the engine records when ``node`` is OK on the branch this lane takes.

    The engine's own shared OK results (each :class:`AllOf` plan's), in plan
    order; a :class:`When` contributes its ``then`` branch (the lane answers
    only when its predicate holds).
    """
    out: list[RuleResult] = []
    assert isinstance(node, AllOf)
    for check, passed, member in node._plan:
        if check is not None:
            out.append(passed)
        elif isinstance(member, When) and isinstance(member.then, AllOf):
            out.extend(_ok_steps(member.then))
        else:  # pragma: no cover - the policies below have no other node
            raise AssertionError(f"express lane cannot follow {member!r}")
    return tuple(out)


_INTERNAL_STEPS = _ok_steps(internal.node)
_KEY_STEPS = _ok_steps(key_based.node)
_PUBFILE_STEPS = _ok_steps(publications_file_based.node)
#: The general policy with no user publication runs the publications-file
#: policy first (``FirstConclusive``): an OK there is the general policy's OK.
_GENERAL_STEPS = _INTERNAL_STEPS + _ok_steps(_PUBFILE)

_LEVELS = tuple(bytes((i,)) for i in range(256))
_CALENDAR_LEVEL = _LEVELS[0xFF]
_SHA256 = hash_constructor(HashAlgorithm.SHA2_256)
_SHA256_ID = b"\x01"
_sizes = IMPRINT_SIZES
_LINK_RUN = sp._SHA256_LINK_RUN


def _first_second(alg: HashAlgorithm, *, obsolete_only: bool) -> float:
    """The first second at which ``alg.is_deprecated_at`` (or ``is_obsolete_at``) holds."""
    info = alg._info
    times = [info.obsolete_since] if obsolete_only else [info.deprecated_since, info.obsolete_since]
    found = [t for t in times if t is not None]
    return min(found) if found else math.inf


#: ``is_deprecated_at(t)`` is ``t >= _DEPRECATED_FROM[id]``, by algorithm id (the lane's
#: lookups; tests/verify/test_express.py holds the two equal at every boundary).
_DEPRECATED_FROM = {a.value: _first_second(a, obsolete_only=False) for a in HashAlgorithm}
_SHA256_DEPRECATED_FROM = _DEPRECATED_FROM[HashAlgorithm.SHA2_256.value]
_SHA256_OBSOLETE_FROM = _first_second(HashAlgorithm.SHA2_256, obsolete_only=True)
_CALENDAR_RUN = sp._SHA256_CALENDAR_RUN
_LINK_STRIDE = sp._LINK_STRIDE
_USUAL_LINK_LENGTHS = sp._USUAL_LINK_LENGTHS
_AUTH_RECORD = sp._AUTH_RECORD
_CALENDAR_STRIDE = sp._CALENDAR_STRIDE
_ALGORITHMS = sp._ALGORITHMS
_uint = sp._uint


def _imprint_ok(data: bytes, start: int, stop: int) -> bool:
    """The bytes are an imprint of a known algorithm (as ``_sigparse._imprint`` checks)."""
    return stop > start and _sizes.get(data[start]) == stop - start


def _header(data: bytes, p: int, stop: int) -> tuple[int, int, int, int]:
    """``(type, first byte, value start, value end)`` of the element at ``p`` (as ``_scan``)."""
    b0 = data[p]
    if b0 & 0x80:
        if stop - p < 4:
            raise _DeclineError
        s = p + 4
        return ((b0 & 0x1F) << 8) | data[p + 1], b0, s, s + ((data[p + 2] << 8) | data[p + 3])
    if stop - p < 2:
        raise _DeclineError
    s = p + 2
    return b0 & 0x1F, b0, s, s + data[p + 1]


#: What the lane keeps of an aggregation chain (no links): time, index,
#: input imprint, algorithm, output imprint, output level, shape index.
_Chain = tuple[int, list[int], bytes, HashAlgorithm, bytes, int, int]

#: ``(hash constructor, id byte, algorithm)`` per aggregation algorithm id, made on first use.
_CONSTRUCTORS: dict[int, tuple[Callable[..., Any], bytes, HashAlgorithm]] = {}


def _constructor(algorithm: int) -> tuple[Callable[..., Any], bytes, HashAlgorithm]:
    found = _CONSTRUCTORS.get(algorithm)
    if found is None:
        alg = _ALGORITHMS.get(algorithm)
        if alg is None:
            raise _DeclineError
        try:
            found = (hash_constructor(alg), _LEVELS[alg.value], alg)
        except JuraError:
            raise _DeclineError from None
        _CONSTRUCTORS[algorithm] = found
    return found


def _metadata(data: bytes, start: int, stop: int) -> bytes:
    """The value of a metadata element, read as ``_sigparse._metadata`` reads it, rule 5 checked."""
    client_id = machine_id = sequence = request_time = False
    types: list[int] = []
    padding: list[TLV] = []
    for typ, b0, _p, s, e in sp._scan(data, start, stop):
        types.append(typ)
        if typ == 0x1E:
            padding.append(TLV(typ, data[s:e], bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x80)))
        elif typ == 0x01 and not client_id:
            sp._utf8(data, s, e)
            client_id = True
        elif typ == 0x02 and not machine_id:
            sp._utf8(data, s, e)
            machine_id = True
        elif typ == 0x03 and not sequence:
            _uint(data, s, e)
            sequence = True
        elif typ == 0x04 and not request_time:
            _uint(data, s, e)
            request_time = True
        else:
            raise _DeclineError
    if not client_id or (padding and types[0] != 0x1E):
        raise _DeclineError
    value = data[start:stop]
    if r._metadata_problem(value, tuple(types), tuple(padding)) is not None:
        raise _DeclineError  # rule 5
    return value


def _other_link(data: bytes, start: int, stop: int) -> tuple[bytes, int]:
    """Sibling bytes and level correction of any link the parser reads (rule 5 checked)."""
    sibling, correction, meta = sp._aggregation_link(data, start, stop)
    if meta is not None and r._metadata_problem(meta.value, meta.child_types, meta.padding):
        raise _DeclineError  # rule 5
    return sibling, correction


def _aggregation_chain(
    data: bytes, start: int, stop: int, expected: bytes | None, level: int
) -> _Chain:
    """Read one 0x801 chain as ``_sigparse._aggregation_chain`` reads it, hashing each link.

    ``expected`` is the output of the chain below (rule 9), ``level`` its
    level; the chain's fields must come before its links.
    """
    time: int | None = None
    index: list[int] = []
    input_hash: bytes | None = None
    algorithm: int | None = None
    input_data = False
    x = b""
    new: Callable[..., Any] = _SHA256
    prefix = _SHA256_ID
    alg = HashAlgorithm.SHA2_256
    links = 0
    run_tried = False
    usual_tries = 2
    shape = 0
    bit = 1
    levels = _LEVELS
    sizes = _sizes
    p = start
    while p < stop:  # the element loop of _sigparse, inlined
        b0 = data[p]
        if b0 & 0x80:
            if stop - p < 4:
                raise _DeclineError
            typ = ((b0 & 0x1F) << 8) | data[p + 1]
            s = p + 4
            e = s + ((data[p + 2] << 8) | data[p + 3])
        else:
            if stop - p < 2:
                raise _DeclineError
            typ = b0 & 0x1F
            s = p + 2
            e = s + data[p + 1]
        if e > stop:
            raise _DeclineError
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714 - the hot loop
            if not links:
                # First link: the fields it hashes with must have come already.
                if input_hash is None or algorithm is None:
                    raise _DeclineError
                new, prefix, alg = _constructor(algorithm)
                x = input_hash
            if e - s == 35 and data[s] == 0x02 and data[s + 1] == 33:
                # The common link: one sibling imprint, no level correction.
                if sizes.get(data[s + 2]) != 33:
                    raise _DeclineError
                if b0 == typ and not run_tried:
                    # Usually every link from here on is one (as _sigparse reads them).
                    run_tried = True
                    if _LINK_RUN.fullmatch(data, p, stop) is not None:
                        if level + (stop - p) // _LINK_STRIDE > 0xFF:
                            raise _DeclineError
                        for i in range(p, stop, _LINK_STRIDE):
                            level += 1
                            if data[i] == 0x07:
                                x = prefix + new(x + data[i + 4 : i + 37] + levels[level]).digest()
                                shape |= bit
                            else:
                                x = prefix + new(data[i + 4 : i + 37] + x + levels[level]).digest()
                            bit <<= 1
                            links += 1
                        p = stop
                        break
                sibling = data[s + 2 : e]
                level += 1
            elif data[s] & 0x9F == 0x04 and s + 2 + data[s + 1] == e:
                # A link of one metadata element (the usual leaf link).
                sibling = _metadata(data, s + 2, e)
                level += 1
            elif b0 == typ and usual_tries and e - s in _USUAL_LINK_LENGTHS:
                # Level-corrected and legacy-id links (Guardtime's): the parser's
                # reader of the usual shapes, up to the chain's end, or this link.
                usual_tries -= 1
                packed = sp._links_to_end(data, p, stop)
                if packed is not None:
                    directions, corrections, siblings = packed
                    for direction, correction, sibling in zip(
                        directions, corrections, siblings, strict=True
                    ):
                        level += correction + 1
                        if level > 0xFF:
                            raise _DeclineError
                        if direction == 0x07:
                            x = prefix + new(x + sibling + levels[level]).digest()
                            shape |= bit
                        else:
                            x = prefix + new(sibling + x + levels[level]).digest()
                        bit <<= 1
                        links += 1
                    p = stop
                    break
                sibling, correction = _other_link(data, s, e)
                level += correction + 1
            else:
                sibling, correction = _other_link(data, s, e)
                level += correction + 1
            if level > 0xFF:
                raise _DeclineError
            if typ == 0x07:
                x = prefix + new(x + sibling + levels[level]).digest()
                shape |= bit
            else:
                x = prefix + new(sibling + x + levels[level]).digest()
            bit <<= 1
            links += 1
        elif links:
            raise _DeclineError  # a field after the links: left to the parsers and the engine
        elif typ == 0x03:
            index.append(_uint(data, s, e))
        elif typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x05 and input_hash is None:
            if e <= s or sizes.get(data[s]) != e - s:
                raise _DeclineError
            input_hash = data[s:e]
        elif typ == 0x06 and algorithm is None:
            algorithm = _uint(data, s, e)
        elif typ == 0x04 and not input_data:
            input_data = True
        else:
            raise _DeclineError
        p = e
    if time is None or not index or input_hash is None or not links:
        raise _DeclineError
    if expected is not None and input_hash != expected:
        raise _DeclineError  # rule 9
    return time, index, input_hash, alg, x, level, shape | bit


def _index_length(data: bytes, start: int, stop: int) -> int:
    """How many chain-index elements come before the chain's first link."""
    count = 0
    p = start
    while p < stop:
        typ, _b0, _s, e = _header(data, p, stop)
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714
            break
        if typ == 0x03:
            count += 1
        p = e
    return count


def _calendar_chain(data: bytes, start: int, stop: int) -> tuple[int, int | None, bytes, bytes]:
    """``(publication time, time field, input hash, directions)`` of a SHA-256 calendar chain."""
    publication_time: int | None = None
    time: int | None = None
    input_hash: bytes | None = None
    p = start
    while p < stop:
        b0 = data[p]
        if b0 & 0x80:  # TLV16 (a header cut short makes e > stop)
            typ = ((b0 & 0x1F) << 8) | data[p + 1]
            s = p + 4
            e = s + ((data[p + 2] << 8) | data[p + 3])
        else:
            typ = b0 & 0x1F
            s = p + 2
            e = s + data[p + 1]
        if e > stop:
            raise _DeclineError
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714
            if _CALENDAR_RUN.fullmatch(data, p, stop) is None:
                raise _DeclineError
            if publication_time is None or input_hash is None:
                raise _DeclineError
            return publication_time, time, input_hash, data[p:stop:_CALENDAR_STRIDE]
        if typ == 0x01 and publication_time is None:
            publication_time = _uint(data, s, e)
        elif typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x05 and input_hash is None:
            if not _imprint_ok(data, s, e):
                raise _DeclineError
            input_hash = data[s:e]
        else:
            raise _DeclineError
        p = e
    raise _DeclineError  # no links


def _calendar_root(data: bytes, start: int, stop: int, x: bytes) -> bytes:
    """The root of the calendar links in ``data[start:stop]`` (plain SHA-256 links)."""
    new = _SHA256
    level = _CALENDAR_LEVEL
    prefix = _SHA256_ID
    # Every sibling is a SHA-256 imprint, so every node is hashed with SHA-256
    # once the input is: a SHA-256 input keeps it on right links too.
    if x[0] != 0x01:
        raise _DeclineError
    for i in range(start, stop, _CALENDAR_STRIDE):
        if data[i] == 0x07:
            x = prefix + new(x + data[i + 2 : i + 35] + level).digest()
        else:
            x = prefix + new(data[i + 2 : i + 35] + x + level).digest()
    return x


def verify_bytes(
    data: bytes,
    policy: KsiPolicy,
    document_hash: Imprint | None,
    publications_file: VerifiedPublicationsFile | None,
) -> VerificationResult | None:
    """The engine's OK result for ``data`` under ``policy``, or ``None`` to let the engine decide.

    ``policy`` is :data:`~jura_trust.verify.policies.internal`,
    :data:`~jura_trust.verify.policies.key_based`,
    :data:`~jura_trust.verify.policies.publications_file_based` or
    :data:`~jura_trust.verify.policies.general` (answered only when its
    publications-file alternative is OK: the caller sends every call with a
    user publication or an input level to the engine); any other policy
    gets ``None``. Never raises for bad input.
    """
    try:
        return _verify(data, policy, document_hash, publications_file)
    except (_DeclineError, sp._UnhandledError, ValueError, IndexError, JuraError):
        return None


def _verify(
    data: bytes,
    policy: KsiPolicy,
    document_hash: Imprint | None,
    publications_file: VerifiedPublicationsFile | None,
) -> VerificationResult | None:
    if policy is internal:
        steps = _INTERNAL_STEPS
    elif policy is key_based:
        steps = _KEY_STEPS
    elif policy is publications_file_based:
        steps = _PUBFILE_STEPS
    elif policy is general:
        steps = _GENERAL_STEPS  # the caller sends user publications to the engine
    else:
        return None
    end = len(data)
    if end > MAX_INPUT_SIZE or end < 4:
        return None
    typ, _b0, start, stop = _header(data, 0, end)
    if typ != 0x800 or stop != end:
        return None
    spans: list[tuple[int, int, int]] = []  # (-index length, start, end) of each chain
    cal: tuple[int, int | None, bytes, bytes] | None = None
    cal_links = 0
    published_time = -1  # the publication record's or the auth record's published data
    published_hash = b""
    record: Any = None  # the publication record (PublicationRecord) or the auth record (_Auth)
    p = start
    while p < stop:
        b0 = data[p]
        if b0 & 0x80:  # TLV16 (a header cut short makes e > stop)
            typ = ((b0 & 0x1F) << 8) | data[p + 1]
            s = p + 4
            e = s + ((data[p + 2] << 8) | data[p + 3])
        else:
            typ = b0 & 0x1F
            s = p + 2
            e = s + data[p + 1]
        if e > stop:
            return None
        if typ == 0x801:
            spans.append((0, s, e))
        elif typ == 0x802 and cal is None:
            cal = _calendar_chain(data, s, e)
            cal_links = e - len(cal[3]) * _CALENDAR_STRIDE
            cal_end = e
        elif typ == 0x803 and record is None:
            record = sp._publication_record(data, p, s, e)
            published_time = record.published_data.publication_time
            published_hash = record.published_data.published_hash.value
        elif typ == 0x805 and record is None:
            record = _auth_record(data, s, e)
            published_time = record[0]
            published_hash = record[1]
        else:
            return None
        p = e
    if not spans or (record is not None and cal is None):
        return None
    # Leaf-most first, as the parsers sort them (stable); equal lengths are the engine's.
    if len(spans) > 1:
        spans = sorted((-_index_length(data, s, e), s, e) for _n, s, e in spans)
    chains: list[_Chain] = []
    expected: bytes | None = None
    level = 0
    previous = 0
    for length, s, e in spans:
        if chains and length <= previous:
            return None
        chain = _aggregation_chain(data, s, e, expected, level)
        chains.append(chain)
        expected = chain[4]
        level = chain[5]
        previous = length
    signing_time, _index, document, _alg, _out, _level, _shape = chains[0]

    # -- the internal policy, rule by rule (rules.INTERNAL_RULES) -------------
    if document_hash is not None and (
        document_hash.__class__ is not Imprint or document_hash.value != document
    ):
        # 1a, 1b (the algorithm is the imprint's first byte). The engine compares
        # imprints by class too: an imprint of another class is never equal there.
        return None
    # 2: no input level here (the caller sends those to the engine).
    # 3: the document hash algorithm at the signature's aggregation time.
    sig_time = signing_time if cal is None else cal[0] if cal[1] is None else cal[1]
    if sig_time >= _DEPRECATED_FROM.get(document[0], 0):  # an unknown id: declined
        return None
    # 4a-4c: no RFC 3161 record here. 5: each metadata checked while reading its link.
    for time, index, _input, alg, _out, _level, shape in chains:
        if time >= _DEPRECATED_FROM[alg.value]:  # 6
            return None
        if time != signing_time:  # 8
            return None
        if index[-1] != shape:  # 10
            return None
    if len(chains) > 1:
        for lower, upper in itertools.pairwise(chains):  # 7
            if lower[1][:-1] != upper[1]:
                return None
    # 9: each chain's input was checked against the output below while reading.
    left_links = False  # a left calendar link: its sibling's algorithm (SHA-256) is checked
    calendar_time = signing_time
    if cal is not None:
        publication_time, time_field, cal_input, directions = cal
        if cal_input != expected:  # 11a
            return None
        cal_time = publication_time if time_field is None else time_field
        if cal_time != signing_time:  # 11b
            return None
        if _time_from_directions(publication_time, directions) != cal_time:  # 11c
            return None
        calendar_time = cal_time
        if 0x07 in directions:  # 11d: every sibling is a SHA-256 imprint
            left_links = True
            if publication_time >= _SHA256_OBSOLETE_FROM:
                return None
        if record is not None:
            if published_time != publication_time:  # 11f / 11h
                return None
            if _calendar_root(data, cal_links, cal_end, cal_input) != published_hash:  # 11e / 11g
                return None

    # -- the policy's tail -----------------------------------------------------
    anchor = _INTERNAL_ONLY
    if policy is key_based:
        if cal is None or not isinstance(record, tuple) or publications_file is None:
            return None  # K1, K3, P1
        anchor = _key_tail(record, cal[0], left_links, signing_time, publications_file)
    elif policy is publications_file_based or policy is general:
        if cal is None or not isinstance(record, PublicationRecord) or publications_file is None:
            return None  # P1, the branch's predicate
        anchor = _pubfile_tail(record, cal[0], left_links, publications_file)
    # The engine's message on OK: the last rule's (no OK rule has one) or "verified".
    return VerificationResult._ok(
        policy.name, steps, anchor, calendar_time, document_hash is not None
    )


def _pki() -> Any:
    """:mod:`jura_trust.pki`, imported on first use (X.509 only for key-based checks)."""
    found = sys.modules.get("jura_trust.pki")
    if found is None:
        found = importlib.import_module("jura_trust.pki")
    return found


def _key_tail(
    auth: _Auth,
    publication_time: int,
    left_links: bool,
    signing_time: int,
    publications_file: VerifiedPublicationsFile,
) -> Anchor:
    """The key-based rules K2, K4-K6 (``policies._KEY``): the anchor, or :class:`_DeclineError`."""
    if left_links and publication_time >= _SHA256_DEPRECATED_FROM:  # K2 (SHA-256 siblings only)
        raise _DeclineError
    _time, _hash, signed_bytes, signature_type, signature_value, certificate_id = auth
    cert = r._find_calendar_certificate(certificate_id, publications_file)  # K4
    if cert is None:
        raise _DeclineError
    pki = _pki()
    if not pki.certificate_valid_at(cert, signing_time):  # K5
        raise _DeclineError
    if not pki.certificate_valid_at(cert, auth[0]):
        raise _DeclineError
    # K6 (its JuraError is a decline)
    pki.verify_signature(signature_type, signature_value, signed_bytes, cert)
    return r._calendar_key_anchor(cert, certificate_id)


def _pubfile_tail(
    record: PublicationRecord,
    publication_time: int,
    left_links: bool,
    publications_file: VerifiedPublicationsFile,
) -> Anchor:
    """The publications-file rules P2 and P4, on the branch where the file has the publication."""
    found = publications_file.find_publication(record.publication_time)
    if found is None:  # the When's predicate
        raise _DeclineError
    if found.published_hash != record.published_hash:  # P2
        raise _DeclineError
    if left_links and publication_time >= _SHA256_DEPRECATED_FROM:  # P4 (SHA-256 siblings only)
        raise _DeclineError
    return r._publication_anchor_of(
        publications_file, record.published_data, user=False, extended=False
    )


#: ``(publication time, published hash, signed bytes, signature type, signature value,
#: certificate id)`` of a calendar authentication record.
_Auth = tuple[int, bytes, bytes, str, bytes, bytes]


def _auth_record(data: bytes, start: int, stop: int) -> _Auth:
    """A 0x805 record, read as ``_sigparse._calendar_auth_record`` reads it."""
    usual = _AUTH_RECORD.fullmatch(data, start, stop)
    if usual is not None:
        # The usual record (SHA-256 with RSA-2048, no URI), read at once as the parser does.
        time, published_hash, value, certificate_id = usual.groups()
        signed_bytes = data[start : start + 43]
        return (
            int.from_bytes(time, "big"),
            published_hash,
            signed_bytes,
            sp._SHA256_WITH_RSA,
            value,
            certificate_id,
        )
    published: tuple[int, bytes, bytes] | None = None
    signed: tuple[str, bytes, bytes] | None = None
    for typ, _b0, p, s, e in sp._scan(data, start, stop):
        if typ == 0x10 and published is None:
            published = _published_data(data, p, s, e)
        elif typ == 0x0B and signed is None:
            signed = _signature_data(data, s, e)
        else:
            raise _DeclineError
    if published is None or signed is None:
        raise _DeclineError
    return (*published, *signed)


def _published_data(data: bytes, pos: int, start: int, stop: int) -> tuple[int, bytes, bytes]:
    """``(time, hash, the element's bytes)`` of 0x10 published data (as ``_sigparse``)."""
    time: int | None = None
    published: bytes | None = None
    for typ, _b0, _p, s, e in sp._scan(data, start, stop):
        if typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x04 and published is None:
            if e <= s or _sizes.get(data[s]) != e - s:
                raise _DeclineError
            published = data[s:e]
        else:
            raise _DeclineError
    if time is None or published is None:
        raise _DeclineError
    return time, published, data[pos:stop]


def _signature_data(data: bytes, start: int, stop: int) -> tuple[str, bytes, bytes]:
    """``(type, value, certificate id)`` of 0x0B signature data (as ``_sigparse``)."""
    kind: str | None = None
    value: bytes | None = None
    certificate_id: bytes | None = None
    uri = False
    for typ, _b0, _p, s, e in sp._scan(data, start, stop):
        if typ == 0x01 and kind is None:
            kind = sp._utf8(data, s, e)
        elif typ == 0x02 and value is None:
            value = data[s:e]
        elif typ == 0x03 and certificate_id is None:
            certificate_id = data[s:e]
        elif typ == 0x04 and not uri:
            sp._utf8(data, s, e, allow_empty=False)
            uri = True
        else:
            raise _DeclineError
    if kind is None or value is None or certificate_id is None:
        raise _DeclineError
    return kind, value, certificate_id
