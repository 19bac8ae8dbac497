"""Hostile aggregator answers against the bulk signer's header-only reader (issue 10, item 3).

``KsiHttpBackend.sign_many_encoded`` reads each response payload and each
aggregation chain from the TLV headers (``_read_payload``, ``_chain_facts``)
instead of making an element of every child. The attack: a payload or a
chain that this faster reader accepts, or reads differently, where the
element reader refused it (truncated children, overruns, duplicates,
unknown critical elements, flipped TLV16/N/F flags, changed lengths). Each
test mutates real answers byte by byte and holds the two readers to the
same outcome: the same refusal code, or the same request id, status,
message and items (raw bytes and flags included).
"""

from __future__ import annotations

from collections.abc import Iterator

from jura_trust.backends.base import ManualClock
from jura_trust.backends.ksi_http import _assemble, _chain_facts, _read_payload
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core import tlv
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode, FormatError
from jura_trust.pdu import AggregationRequest

_ITEMS = frozenset({0x801, 0x802, 0x803, 0x804, 0x805, 0x806})


def _element_reader(element: tlv.TLV) -> tuple[object, ...]:
    """The payload reader as it was before item 3: one element per child (the reference)."""
    fields: dict[int, bytes] = {}
    items: list[tlv.TLV] = []
    try:
        for child in element.children():
            if child.type in _ITEMS:
                items.append(child)
            elif child.type in (0x01, 0x04, 0x05):
                if child.type in fields:
                    return ("refused", ErrorCode.SVC_BAD_RESPONSE)
                fields[child.type] = child.value
            elif not child.non_critical:
                return ("refused", ErrorCode.SVC_BAD_RESPONSE)
        if 0x01 not in fields:
            return ("refused", ErrorCode.SVC_BAD_RESPONSE)
        request_id = tlv.decode_uint(fields[0x01])
        status = tlv.decode_uint(fields[0x04]) if 0x04 in fields else 0
        message = tlv.decode_utf8(fields[0x05]) if 0x05 in fields else None
    except FormatError:
        return ("refused", ErrorCode.SVC_BAD_RESPONSE)
    return ("read", request_id, status, message, [_facts_of(i) for i in items])


def _facts_of(item: tlv.TLV) -> tuple[object, ...]:
    return (item.type, item.value, item.non_critical, item.forward, item.tlv16, item.raw)


def _header_reader(element: tlv.TLV) -> tuple[object, ...]:
    try:
        request_id, answer = _read_payload(element)
    except BackendError as exc:
        return ("refused", exc.code)
    return (
        "read",
        request_id,
        answer.status,
        answer.message,
        [_facts_of(i) for i in answer.items],
    )


def _element_chain_facts(chain: tlv.TLV) -> tuple[object, ...]:
    try:
        children = chain.children()
    except FormatError as exc:
        return ("refused", exc.code)
    count = sum(1 for c in children if c.type == 0x03)
    inputs = [c.value for c in children if c.type == 0x05]
    return ("read", count, inputs[-1] if inputs else b"")


def _header_chain_facts(chain: tlv.TLV) -> tuple[object, ...]:
    try:
        return ("read", *_chain_facts(chain))
    except FormatError as exc:
        return ("refused", exc.code)


def _mutations(value: bytes) -> Iterator[bytes]:
    """Every truncation, and every byte changed in the ways that move TLV boundaries."""
    for cut in range(len(value)):
        yield value[:cut]
    for pos, byte in enumerate(value):
        for new in {0x00, 0xFF, byte ^ 0x80, byte ^ 0x40, byte ^ 0x20, (byte + 1) & 0xFF}:
            if new != byte:
                yield value[:pos] + bytes((new,)) + value[pos + 1 :]
    yield value + b"\x00"  # a trailing lone byte (a cut header)
    yield value + tlv.encode(0x01, b"\x07")  # the request id again
    yield value + tlv.encode(0x10, b"x")  # an unknown critical element
    yield value + tlv.encode(0x10, b"x", non_critical=True)  # an unknown non-critical one
    yield value + tlv.encode(0x801, b"", force_tlv16=True)  # an empty chain, TLV16


def _answer(index: int = 1) -> tuple[bytes, list[bytes]]:
    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    try:
        rnd = backend.aggregate(
            [RoundRequest(Imprint.hash(b"%d" % i), i % 2, "alice") for i in range(3)]
        )
        chains = rnd.encoded_aggregation_chains()
        shared = rnd.shared_elements()
    finally:
        backend.close()
    head = tlv.encode(0x01, tlv.encode_uint(7)) + tlv.encode(0x04, b"")
    return head + chains[index] + shared, chains


def test_attack_bulk_reader_accepts_no_mutated_payload_the_element_reader_refuses():
    value, _ = _answer()
    assert _header_reader(tlv.TLV(0x02, value))[0] == "read"
    tried = 0
    for mutated in _mutations(value):
        element = tlv.TLV(0x02, mutated, False, False, True)
        assert _header_reader(element) == _element_reader(element), mutated.hex()
        tried += 1
    assert tried > 5 * len(value)


def test_attack_bulk_chain_reader_reads_no_mutated_chain_differently():
    _, chains = _answer()
    for encoded in chains:
        value = tlv.decode(encoded).value
        for mutated in _mutations(value):
            chain = tlv.TLV(0x801, mutated, False, False, True)
            mine, theirs = _header_chain_facts(chain), _element_chain_facts(chain)
            assert mine == theirs, mutated.hex()
            if mine[0] == "refused":
                assert mine[1] is ErrorCode.FMT_TRUNCATED


def _element_assembly(element: tlv.TLV, request: AggregationRequest) -> tuple[object, ...]:
    """The signature as the bulk signer assembled it before item 3: from the elements.

    The reference for a level-0 request: the chains ordered by their index
    count, the calendar items by type, the document hash from the first
    chain; a malformed chain or another document hash is refused.
    """
    read = _element_reader(element)
    if read[0] == "refused" or read[2] != 0:
        return read[:2]
    items = [c for c in element.children() if c.type in _ITEMS]
    try:
        chains = [
            (sum(1 for c in e.children() if c.type == 0x03), e) for e in items if e.type == 0x801
        ]
        inputs = [[c.value for c in e.children() if c.type == 0x05] for _, e in chains]
    except FormatError:
        return ("refused", ErrorCode.SVC_BAD_RESPONSE)
    if not chains or any(e.type == 0x806 for e in items):
        return ("other",)
    order = sorted(range(len(chains)), key=lambda i: -chains[i][0])
    document_hash = inputs[order[0]][-1] if inputs[order[0]] else b""
    if document_hash != request.request_hash.value:
        return ("refused", ErrorCode.SVC_BAD_RESPONSE)
    ordered = [
        *(chains[i][1] for i in order),
        *(e for t in (0x802, 0x803, 0x804, 0x805) for e in items if e.type == t),
    ]
    return ("signature", tlv.encode(0x800, b"".join(e.raw for e in ordered)))


def _slice_assembly(element: tlv.TLV, request: AggregationRequest) -> tuple[object, ...]:
    try:
        _, answer = _read_payload(element)
    except BackendError as exc:
        return ("refused", exc.code)
    if answer.status != 0:
        return ("read", answer.status)
    if any(typ == 0x806 for typ, *_ in answer.spans):
        return ("other",)
    try:
        return ("signature", _assemble(answer, request))
    except BackendError as exc:
        if exc.code is ErrorCode.SVC_BAD_RESPONSE and "no aggregation chain" in exc.message:
            return ("other",)
        return ("refused", exc.code)


def test_attack_bulk_signature_slice_differs_from_the_element_assembly():
    """The bulk signer takes the usual answer's signature as one slice of the payload.

    The attack: a payload whose items are out of order, not back to back,
    doubled, truncated or with another document hash, for which the slice
    would be a different signature than the element assembly made, or
    would be taken where the element assembly refused.
    """
    value, _ = _answer(2)  # a level-0 request: its signature is the slice
    request = AggregationRequest(7, Imprint.hash(b"2"), 0)
    element = tlv.TLV(0x02, value, False, False, True)
    _, answer = _read_payload(element)
    assert answer.whole is not None  # the service's answer takes the slice
    good = _slice_assembly(element, request)
    assert good[0] == "signature"
    assert good == _element_assembly(element, request)
    items = [c for c in element.children() if c.type in _ITEMS]
    head = value[: len(value) - sum(len(i.raw) for i in items)]
    reordered = [
        head + b"".join(i.raw for i in (items[1], items[0], *items[2:])),  # chain not first
        head + b"".join(i.raw for i in (items[0], items[2], items[1])),  # calendar items swapped
        head + b"".join(i.raw for i in (items[0], *items)),  # the chain twice
        head + items[0].raw + tlv.encode(0x10, b"x", non_critical=True) + items[1].raw,  # a gap
    ]
    tried = 0
    for mutated in [*_mutations(value), *reordered]:
        element = tlv.TLV(0x02, mutated, False, False, True)
        assert _slice_assembly(element, request) == _element_assembly(element, request), (
            mutated.hex()
        )
        tried += 1
    assert tried > 5 * len(value)
