"""Express lane of verification: one pass over a signature's bytes (private).

CONSENSUS-CRITICAL, but it decides nothing on its own. The rule engine
(:mod:`jura_trust.verify.rules` run by :mod:`jura_trust.verify.policies`
on a parsed :class:`~jura_trust.core.signature.Signature`) defines every
outcome. This module answers the most common question, "is this signature
OK under the internal, key-based or publications-file policy?", for the
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

Handled: signatures of aggregation chains (fields before links, chains
leaf-most first), an optional calendar chain of SHA-256 links, and a
calendar authentication record or a publication record; no input level.
The policies' tails: key-based (the calendar certificate from the trusted
publications file, its validity, the record's signature) and
publications-file (the signature's own publication found in the file).
Left to the engine: everything else (RFC 3161 records, extension, user
publications, the general and calendar policies, every failure).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jura_trust.core import _sigparse as sp
from jura_trust.core.chains import _time_from_directions
from jura_trust.core.hashing import IMPRINT_SIZES, HashAlgorithm, Imprint, hash_constructor
from jura_trust.core.tlv import MAX_INPUT_SIZE
from jura_trust.errors import JuraError, Outcome
from jura_trust.verify import rules as r
from jura_trust.verify.engine import AllOf, Node, When
from jura_trust.verify.policies import (
    _INTERNAL_ONLY,
    KsiPolicy,
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

_LEVELS = tuple(bytes((i,)) for i in range(256))
_CALENDAR_LEVEL = _LEVELS[0xFF]
_SHA256 = hash_constructor(HashAlgorithm.SHA2_256)
_SHA256_ID = b"\x01"
_sizes = IMPRINT_SIZES
_LINK_RUN = sp._SHA256_LINK_RUN
_CALENDAR_RUN = sp._SHA256_CALENDAR_RUN
_LINK_STRIDE = sp._LINK_STRIDE
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


class _Chain:
    """What the lane keeps of one aggregation chain (no links)."""

    __slots__ = ("algorithm", "index", "input", "level", "output", "shape", "time")

    def __init__(self) -> None:
        self.time: int = 0
        self.index: list[int] = []
        self.input: bytes = b""
        self.algorithm: HashAlgorithm = HashAlgorithm.SHA2_256
        self.output: bytes = b""
        self.level = 0
        self.shape = 0


def _aggregation_chain(
    data: bytes, start: int, stop: int, *, expected: bytes | None, level: int, metas: list[Any]
) -> _Chain:
    """Read one 0x801 chain as ``_sigparse._aggregation_chain`` reads it, hashing each link.

    ``expected`` is the output of the chain below (rule 9), ``level`` its
    level; the chain's fields must come before its links.
    """
    chain = _Chain()
    time: int | None = None
    index = chain.index
    input_hash: bytes | None = None
    algorithm: int | None = None
    input_data = False
    x = b""
    new: Callable[..., Any] = _SHA256
    prefix = _SHA256_ID
    links = 0
    run_tried = False
    shape = 0
    bit = 1
    levels = _LEVELS
    p = start
    while p < stop:
        typ, b0, s, e = _header(data, p, stop)
        if e > stop:
            raise _DeclineError
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714 - the hot loop
            if not links:
                # First link: the fields it hashes with must have come already.
                if input_hash is None or algorithm is None:
                    raise _DeclineError
                alg = _ALGORITHMS.get(algorithm)
                if alg is None:
                    raise _DeclineError
                try:
                    new = hash_constructor(alg)
                except JuraError:
                    raise _DeclineError from None
                prefix = _LEVELS[alg.value]
                chain.algorithm = alg
                x = input_hash
            if e - s == 35 and data[s] == 0x02 and data[s + 1] == 33:
                # The common link: one sibling imprint, no level correction.
                if _sizes.get(data[s + 2]) != 33:
                    raise _DeclineError
                if b0 == typ and not run_tried:
                    # Usually every link from here on is one (as _sigparse reads them).
                    run_tried = True
                    if _LINK_RUN.fullmatch(data, p, stop) is not None:
                        for i in range(p, stop, _LINK_STRIDE):
                            level += 1
                            if level > 0xFF:
                                raise _DeclineError
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
            else:
                link = sp._aggregation_link(sp._LEFT if typ == 0x07 else sp._RIGHT, data, p, s, e)
                sibling = link.sibling_bytes
                level += link.level_correction + 1
                if link.metadata is not None:
                    metas.append(link.metadata)
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
            if not _imprint_ok(data, s, e):
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
    chain.time = time
    chain.input = input_hash
    chain.output = x
    chain.level = level
    chain.shape = shape | bit
    return chain


def _first(span: tuple[int, int, int]) -> int:
    return span[0]


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
        typ, _b0, s, e = _header(data, p, stop)
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
    :data:`~jura_trust.verify.policies.key_based` or
    :data:`~jura_trust.verify.policies.publications_file_based`; any other
    policy gets ``None``. Never raises for bad input.
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
    else:
        return None
    end = len(data)
    if end > MAX_INPUT_SIZE or end < 4:
        return None
    typ, _b0, start, stop = _header(data, 0, end)
    if typ != 0x800 or stop != end:
        return None
    spans: list[tuple[int, int, int]] = []  # (index length, start, end) of each chain
    metas: list[Any] = []
    cal: tuple[int, int | None, bytes, bytes] | None = None
    cal_links = (0, 0)
    published: Any = None  # the publication record's or the auth record's PublicationData
    record_kind = ""
    auth: Any = None
    p = start
    while p < stop:
        typ, _b0, s, e = _header(data, p, stop)
        if e > stop:
            return None
        if typ == 0x801:
            spans.append((-_index_length(data, s, e), s, e))
        elif typ == 0x802 and cal is None:
            cal = _calendar_chain(data, s, e)
            first_link = e - len(cal[3]) * _CALENDAR_STRIDE
            cal_links = (first_link, e)
        elif typ == 0x803 and not record_kind:
            record = sp._publication_record(data, p, s, e)
            published = record.published_data
            record_kind = "publication"
        elif typ == 0x805 and not record_kind:
            auth = sp._calendar_auth_record(data, p, s, e)
            published = auth.published_data
            record_kind = "auth"
        else:
            return None
        p = e
    # Leaf-most first, as the parsers sort them (stable); equal lengths are the engine's.
    spans.sort(key=_first)
    chains: list[_Chain] = []
    expected: bytes | None = None
    level = 0
    for length, s, e in spans:
        if chains and length <= -len(chains[-1].index):
            return None
        chain = _aggregation_chain(data, s, e, expected=expected, level=level, metas=metas)
        chains.append(chain)
        expected = chain.output
        level = chain.level
    if not chains or (record_kind and cal is None):
        return None
    leaf = chains[0]
    signing_time = leaf.time  # ctx.signing_time

    # -- the internal policy, rule by rule (rules.INTERNAL_RULES) -------------
    if document_hash is not None:
        given = document_hash.value
        if given[0] != leaf.input[0]:  # 1a
            return None
        if given != leaf.input:  # 1b
            return None
    # 2: no input level here (the caller sends those to the engine).
    # 3: the document hash algorithm at the signature's aggregation time.
    sig_time = signing_time if cal is None else cal[0] if cal[1] is None else cal[1]
    if HashAlgorithm.from_id(leaf.input[0]).is_deprecated_at(sig_time):
        return None
    # 4a-4c: no RFC 3161 record here.
    for meta in metas:  # 5
        if r._metadata_problem(meta.value, meta.child_types, meta.padding) is not None:
            return None
    for chain in chains:  # 6
        if chain.algorithm.is_deprecated_at(chain.time):
            return None
    for lower, upper in itertools.pairwise(chains):  # 7
        if lower.index[:-1] != upper.index:
            return None
    for chain in chains:  # 8
        if chain.time != signing_time:
            return None
    # 9: each chain's input was checked against the output below while reading.
    for chain in chains:  # 10
        if chain.index[-1] != chain.shape:
            return None
    calendar_time: int | None = None
    if cal is not None:
        publication_time, time_field, cal_input, directions = cal
        if cal_input != expected:  # 11a
            return None
        cal_time = publication_time if time_field is None else time_field
        if cal_time != signing_time:  # 11b
            return None
        calendar_time = _time_from_directions(publication_time, directions)  # 11c
        if calendar_time is None or calendar_time != cal_time:
            return None
        left_ids = {1} if 0x07 in directions else set()  # every sibling is SHA-256
        for alg_id in sorted(left_ids):  # 11d
            if HashAlgorithm.from_id(alg_id).is_obsolete_at(publication_time):
                return None
        if published is not None:
            root = _calendar_root(data, cal_links[0], cal_links[1], cal_input)
            if root != published.published_hash.value:  # 11e / 11g
                return None
            if published.publication_time != publication_time:  # 11f / 11h
                return None
    else:
        left_ids = set()

    # -- the policy's tail -----------------------------------------------------
    anchor = _INTERNAL_ONLY
    proven = signing_time
    if policy is key_based:
        anchor, proven = _key_tail(auth, cal, left_ids, signing_time, publications_file)
    elif policy is publications_file_based:
        anchor, proven = _pubfile_tail(record_kind, published, cal, left_ids, publications_file)
    last = steps[-1]
    return VerificationResult(
        policy.name,
        Outcome.OK,
        None,
        last.message or "verified",
        steps,
        anchor=anchor,
        aggregation_time=proven,
        document_checked=document_hash is not None,
    )


def _key_tail(
    auth: Any,
    cal: tuple[int, int | None, bytes, bytes] | None,
    left_ids: set[int],
    signing_time: int,
    publications_file: VerifiedPublicationsFile | None,
) -> tuple[Anchor, int]:
    """The key-based policy's rules K1-K6 (``rules._KEY``), OK or :class:`_DeclineError`."""
    if cal is None or auth is None or publications_file is None:  # K1, K3, K4
        raise _DeclineError
    publication_time = cal[0]
    if r._deprecated_left_ids(left_ids, publication_time) is not None:  # K2
        raise _DeclineError
    cert = r._find_calendar_certificate(auth, publications_file)  # K4
    if cert is None:
        raise _DeclineError
    from jura_trust import pki  # noqa: PLC0415 - X.509 only for key-based checks

    published_at = auth.published_data.publication_time
    if not pki.certificate_valid_at(cert, signing_time):  # K5
        raise _DeclineError
    if not pki.certificate_valid_at(cert, published_at):
        raise _DeclineError
    signed = auth.signature_data
    pki.verify_signature(  # K6 (a JuraError is a decline)
        signed.signature_type, signed.signature_value, auth.signed_bytes, cert
    )
    calendar_time = _time_from_directions(publication_time, cal[3])
    assert calendar_time is not None  # checked by 11c
    return r._calendar_key_anchor(cert, signed.certificate_id), calendar_time


def _pubfile_tail(
    record_kind: str,
    published: Any,
    cal: tuple[int, int | None, bytes, bytes] | None,
    left_ids: set[int],
    publications_file: VerifiedPublicationsFile | None,
) -> tuple[Anchor, int]:
    """The publications-file rules P1, P2, P4 on the branch where the file has the publication."""
    if publications_file is None:  # P1
        raise _DeclineError
    if record_kind != "publication" or cal is None:  # the When's predicate
        raise _DeclineError
    found = publications_file.find_publication(published.publication_time)
    if found is None:
        raise _DeclineError
    if found.published_hash != published.published_hash:  # P2
        raise _DeclineError
    if r._deprecated_left_ids(left_ids, cal[0]) is not None:  # P4
        raise _DeclineError
    calendar_time = _time_from_directions(cal[0], cal[3])
    assert calendar_time is not None  # checked by 11c
    anchor = r._publication_anchor_of(publications_file, published, user=False, extended=False)
    return anchor, calendar_time


def checking() -> bool:
    """True when every express answer is to be checked against the engine."""
    return os.environ.get(CHECK_ENV, "") not in ("", "0")
