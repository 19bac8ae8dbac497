"""Attacks on the verification path's values (issue 10): packed chains, caches, evolve.

Chains keep their links packed (the bytes each link hashes, one direction and
one level-correction byte per link) and build ``links`` on first use; the
calendar root is cached. Verification reads the packed form, people and
``inspect`` read ``links``: these tests hold the two to the same story, keep
the caches from going stale, and keep hostile bytes on typed errors. Tests
named ``test_attack_*`` failed before the fix named in their docstring; the
others protect refusals that held.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest

from jura_trust import cli
from jura_trust._value import FrozenError, evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core import tlv
from jura_trust.core._sigparse import parse_signature
from jura_trust.core.chains import (
    AggregationChain,
    AggregationLink,
    CalendarLink,
    Direction,
    Metadata,
    aggregation_shape_index,
    calendar_time_from_shape,
    evaluate_aggregation_links,
    evaluate_calendar_links,
)
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, FormatError, Outcome
from jura_trust.verify import verify_signature
from tests.core.sigparse_shapes import signature as structured_signature
from tests.vectors import KSI

T0 = 1_700_000_000
VALID = KSI / "signatures" / "valid"
#: A Guardtime signature whose calendar chain mixes left and right links.
MIXED = VALID / "ok-sig-2014-04-30.1-extended.ksig"


@pytest.fixture(scope="module")
def signed() -> tuple[Signature, Signature]:
    """An unextended signature (metadata link, calendar auth record) and an extended one."""
    clock = ManualClock(T0)
    with EmbeddedBackend(clock=clock) as backend:
        sigs = backend.sign_many([Imprint.hash(b"a"), Imprint.hash(b"b"), Imprint.hash(b"c")])
        clock.advance(4000)
        backend.publish()
        return sigs[0], backend.extend(sigs[1])


def _parsed(sig: Signature) -> Signature:
    """``sig`` read back from its bytes (by the one-pass parser)."""
    data = sig.encode()
    fast = parse_signature(data)
    assert fast is not None  # the fast path took it: packed chains, links built later
    return fast


def _with_link_bytes(sig: Signature, link_bytes: bytes) -> bytes:
    """``sig`` re-encoded with its first chain's first link replaced by ``link_bytes``."""
    chain = sig.aggregation_chains[0]
    first = tlv.keep_raw(evolve(chain.links[0]), link_bytes)
    forged = evolve(chain, links=(first, *chain.links[1:]))
    return evolve(sig, aggregation_chains=(forged, *sig.aggregation_chains[1:])).encode()


def _link_with_correction(link: AggregationLink, correction: bytes) -> bytes:
    """``link``'s encoding with a level-correction element of value ``correction`` first."""
    element = tlv.decode(link.encode())
    return tlv.encode(int(link.direction), tlv.encode(0x01, correction) + element.value)


# -- hostile bytes ------------------------------------------------------------------------


@pytest.mark.parametrize("correction", [b"\x01\x00", b"\x01\x00\x00\x00\x00\x00\x00\x00"])
def test_attack_level_correction_over_255_is_a_format_error(signed, correction) -> None:
    """Fixed: a link's level correction of 256 or more raised a bare ValueError.

    ``AggregationLink``'s constructor refuses it, and the reference parser
    passed the decoded integer straight in: ``Signature.from_bytes`` leaked
    an untyped ValueError, which ``jura-trust verify`` reported as a USAGE
    error (exit 64). A level is one byte: it is FMT-06 at parse time now.
    """
    sig, _ = signed
    data = _with_link_bytes(
        sig, _link_with_correction(sig.aggregation_chains[0].links[0], correction)
    )
    assert parse_signature(data) is None  # the fast path leaves it to the reference parser
    with pytest.raises(FormatError) as caught:
        Signature.from_bytes(data)
    assert caught.value.code is ErrorCode.FMT_BAD_INTEGER


def test_attack_level_correction_over_255_on_the_command_line(
    signed, tmp_path: Path, capsys
) -> None:
    """Fixed with the above: ``verify --json`` said USAGE (exit 64) for a malformed file."""
    sig, _ = signed
    data = _with_link_bytes(
        sig, _link_with_correction(sig.aggregation_chains[0].links[0], b"\x01\x00")
    )
    path = tmp_path / "forged.ksig"
    path.write_bytes(data)
    capsys.readouterr()
    rc = cli.main(["verify", str(path), "--policy", "internal", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["code"] == "FMT-06"
    assert out["valid"] is False
    assert rc == 3  # EXIT_FORMAT


def test_level_correction_255_still_parses_and_overflows_at_verification(signed) -> None:
    """The largest correction is well-formed; the level it reaches fails INT-01, not parsing."""
    sig, _ = signed
    data = _with_link_bytes(sig, _link_with_correction(sig.aggregation_chains[0].links[0], b"\xff"))
    parsed = Signature.from_bytes(data)
    assert parsed.aggregation_chains[0].first_level_correction == 255
    result = verify_signature(parsed, policy="internal")
    assert result.outcome is Outcome.FAIL
    assert result.code is ErrorCode.INT_01


# -- packed form against links ----------------------------------------------------------


def _assert_packed_matches_links(sig: Signature) -> None:
    """Every packed view of ``sig``'s chains says what its ``links`` say."""
    for chain in sig.aggregation_chains:
        links = chain.links
        out, level = evaluate_aggregation_links(chain.algorithm, chain.input_hash.value, links)
        assert chain.evaluate() == (Imprint(out), level)
        assert chain.shape_index == aggregation_shape_index(links)
        assert chain.first_level_correction == links[0].level_correction
        assert chain.metadata_siblings == tuple(x.metadata for x in links if x.metadata is not None)
    cal = sig.calendar_chain
    if cal is not None:
        links_c = cal.links
        assert cal.root().value == evaluate_calendar_links(cal.input_hash.value, links_c)
        assert cal.time_from_shape() == calendar_time_from_shape(cal.publication_time, links_c)
        assert cal.left_algorithm_ids() == {x.sibling.algorithm_id for x in links_c if x.is_left}
        assert cal.right_siblings() == tuple(x.sibling for x in links_c if not x.is_left)


def test_packed_chains_of_parsed_signatures_say_what_their_links_say(signed) -> None:
    for sig in signed:
        _assert_packed_matches_links(_parsed(sig))
    taken = 0
    for path in sorted(VALID.iterdir()):
        sig = Signature.from_bytes(path.read_bytes())
        taken += sig.aggregation_chains[0]._links is None
        _assert_packed_matches_links(sig)
    assert taken >= 10  # most came through the one-pass parser


def test_attack_link_direction_as_a_plain_int_is_hashed_as_shown(signed) -> None:
    """Fixed: ``AggregationLink(7, ...)`` was hashed as a left link but shown as a right one.

    The packed form keeps the direction byte (7: left) while ``is_left``,
    ``aggregation_shape_index``, ``evaluate_aggregation_links`` and
    ``inspect`` test ``is Direction.LEFT``; and ``7 == Direction.LEFT``, so
    the chain even compared equal to the honest one. The constructors now
    keep a :class:`Direction`.
    """
    _, extended = signed
    chain = extended.aggregation_chains[0]
    relinked = tuple(
        AggregationLink(int(x.direction), x.level_correction, x.sibling, x.legacy_id, x.metadata)
        for x in chain.links
    )
    assert any(x.direction == Direction.LEFT for x in relinked)
    plain = evolve(chain, links=relinked)
    assert [x.is_left for x in plain.links] == [x.is_left for x in chain.links]
    assert all(type(x.direction) is Direction for x in plain.links)
    _assert_packed_matches_links(evolve(extended, aggregation_chains=(plain,)))


def test_attack_calendar_link_direction_as_a_plain_int_is_hashed_as_shown() -> None:
    """Fixed: ``CalendarLink(7, ...)``: the root and time hashed it as left, the links as right."""
    sig = Signature.from_bytes(MIXED.read_bytes())
    cal = sig.calendar_chain
    assert cal is not None
    assert any(x.is_left for x in cal.links) and not all(x.is_left for x in cal.links)
    plain = evolve(cal, links=tuple(CalendarLink(int(x.direction), x.sibling) for x in cal.links))
    assert plain == cal
    assert plain.root().value == evaluate_calendar_links(plain.input_hash.value, plain.links)
    assert calendar_time_from_shape(plain.publication_time, plain.links) == cal.time_from_shape()


@pytest.mark.parametrize("direction", [9, 6, 0, True, 0x107])
def test_attack_link_direction_other_than_left_or_right_is_refused(direction) -> None:
    """Fixed: ``AggregationLink(9, ...)`` was accepted (hashed right, encoded as element 9)."""
    with pytest.raises(ValueError, match="Direction"):
        AggregationLink(direction, sibling=Imprint.hash(b"s"))
    with pytest.raises(ValueError, match="Direction"):
        CalendarLink(direction, Imprint.hash(b"s"))


def test_attack_chain_without_links_cannot_be_built(signed) -> None:
    """Fixed: an empty chain could be built in code (no parser accepts one).

    It evaluated to its own input, encoded to bytes every parser refuses,
    and ``first_level_correction`` raised IndexError out of ``verify``
    (rule ``input_level``) instead of a result.
    """
    sig, _ = signed
    chain = sig.aggregation_chains[0]
    with pytest.raises(ValueError, match="at least one link"):
        evolve(chain, links=())
    cal = sig.calendar_chain
    assert cal is not None
    with pytest.raises(ValueError, match="at least one link"):
        evolve(cal, links=())


def test_attack_chain_without_chain_index_cannot_be_built(signed) -> None:
    """Fixed: ``evolve(chain, chain_index=())`` made ``verify`` raise IndexError (rule 7/10)."""
    sig, _ = signed
    chain = sig.aggregation_chains[0]
    with pytest.raises(ValueError, match="chain index"):
        evolve(chain, chain_index=())
    listed = evolve(chain, chain_index=list(chain.chain_index))
    assert listed.chain_index == chain.chain_index
    assert type(listed.chain_index) is tuple  # immutable, as the parsers make it


# -- caches, copies, evolve, frozen-ness --------------------------------------------------


def _copies(value):  # type: ignore[no-untyped-def]
    return [
        copy.copy(value),
        copy.deepcopy(value),
        pickle.loads(pickle.dumps(value)),
        evolve(value),
    ]


def test_calendar_root_cache_never_outlives_its_chain(signed) -> None:
    _, extended = signed
    cal = _parsed(extended).calendar_chain
    assert cal is not None
    root = cal.root()
    for other in _copies(cal):
        assert other == cal
        assert other.root() == root
        assert other.root().value == evaluate_calendar_links(other.input_hash.value, other.links)
    moved = evolve(cal, input_hash=Imprint.hash(b"another aggregation root"))
    assert moved._root is None  # the cache is not carried over
    assert moved.root() != root
    assert moved.root().value == evaluate_calendar_links(moved.input_hash.value, moved.links)


def test_lazy_links_survive_copies_before_first_use(signed) -> None:
    for sig in signed:
        honest = Signature.from_tlv(tlv.decode(sig.encode()))  # the reference parser
        fast = _parsed(sig)
        for copied in _copies(fast):
            for got, want in zip(copied.aggregation_chains, honest.aggregation_chains, strict=True):
                assert got.links == want.links
                assert got.evaluate() == want.evaluate()
            assert copied.issuer == honest.issuer


def test_evolve_of_a_packed_chain_hashes_the_new_links(signed) -> None:
    """Replacing a link through ``evolve`` changes what is hashed, not only what is shown."""
    sig, _ = signed
    chain = _parsed(sig).aggregation_chains[0]
    link = chain.links[-1]
    swapped = evolve(link, direction=Direction.RIGHT if link.is_left else Direction.LEFT)
    forged = evolve(chain, links=(*chain.links[:-1], swapped))
    assert forged.raw == b""
    assert forged.evaluate() != chain.evaluate()
    assert forged.shape_index != chain.shape_index
    assert forged.evaluate() == AggregationChain.from_tlv(tlv.decode(forged.encode())).evaluate()


@pytest.mark.parametrize(
    "name",
    ["_directions", "_corrections", "_siblings", "_metadata", "_links", "input_hash", "raw"],
)
def test_packed_aggregation_chain_is_frozen(signed, name: str) -> None:
    chain = _parsed(signed[0]).aggregation_chains[0]
    with pytest.raises(FrozenError):
        setattr(chain, name, getattr(chain, name))
    with pytest.raises(FrozenError):
        delattr(chain, name)


@pytest.mark.parametrize("name", ["_directions", "_siblings", "_root", "_links", "input_hash"])
def test_packed_calendar_chain_is_frozen(signed, name: str) -> None:
    cal = _parsed(signed[1]).calendar_chain
    assert cal is not None
    cal.root()
    with pytest.raises(FrozenError):
        setattr(cal, name, None)
    with pytest.raises(FrozenError):
        delattr(cal, name)


def test_equal_chains_hash_the_same_bytes(signed) -> None:
    """Equality compares ``links``; a re-encoding that hashes the same bytes is equal, a flip is not."""
    _, extended = signed
    chain = _parsed(extended).aggregation_chains[0]
    # The same links under TLV16 headers with the N flag: other bytes, same hashing.
    body = b"".join(
        tlv.encode(
            int(x.direction), tlv.decode(x.encode()).value, non_critical=True, force_tlv16=True
        )
        for x in chain.links
    )
    element = tlv.decode(chain.encode())
    head = b"".join(c.raw for c in element.children() if c.type not in (0x07, 0x08))
    recoded = AggregationChain.from_tlv(tlv.decode(tlv.encode(0x801, head + body)))
    assert recoded.raw != chain.raw
    assert recoded == chain
    assert hash(recoded) == hash(chain)
    assert recoded.evaluate() == chain.evaluate()
    sibling = chain.links[-1].sibling
    assert sibling is not None
    flipped = Imprint(sibling.value[:-1] + bytes([sibling.value[-1] ^ 1]))
    other = evolve(chain, links=(*chain.links[:-1], evolve(chain.links[-1], sibling=flipped)))
    assert other != chain
    assert other.evaluate() != chain.evaluate()


def test_attack_cli_names_every_malformed_structured_signature_a_format_error(
    tmp_path: Path, capsys
) -> None:
    """``verify --json`` on hostile shapes: a result or a FMT code, never USAGE or a traceback.

    Before the level-correction fix, the shapes with a correction of 256 or
    more came out as USAGE (exit 64). For every shape that parses,
    ``inspect --json`` shows the links verification hashed (the packed
    form of the one-pass parser; ``inspect`` reads the lazily built links).
    """
    path = tmp_path / "shape.ksig"
    statuses: dict[int, int] = {}
    for seed in range(300):
        path.write_bytes(structured_signature(seed))
        capsys.readouterr()
        rc = cli.main(["verify", str(path), "--policy", "internal", "--json"])
        out = json.loads(capsys.readouterr().out)
        statuses[rc] = statuses.get(rc, 0) + 1
        assert rc in (0, 1, 3), (seed, out)
        if rc == 3:
            assert out["code"].startswith("FMT-"), (seed, out)
            continue
        assert out["outcome"] in ("OK", "FAIL"), (seed, out)
        assert (rc == 0) == (out["outcome"] == "OK") == out["valid"]
        # What inspect shows is what verification hashed: the packed form.
        assert cli.main(["inspect", str(path), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        hashed = Signature.from_bytes(path.read_bytes())
        assert shown["issuer"] == [
            m.client_id for c in hashed.aggregation_chains for m in c.metadata_siblings
        ]
        for chain, packed in zip(
            shown["aggregation_chains"], hashed.aggregation_chains, strict=True
        ):
            links = chain["links"]
            assert [x["direction"] == "left" for x in links] == [d == 7 for d in packed._directions]
            assert [x["level_correction"] for x in links] == list(packed._corrections)
            for link, sibling in zip(links, packed._siblings, strict=True):
                if link["sibling"] is not None:
                    assert link["sibling"] == str(Imprint(sibling))
                elif link["legacy_id"] is not None:
                    assert link["legacy_id"] == sibling.hex()
                else:
                    assert link["metadata"] is not None
    assert statuses.get(3, 0) > 50 and statuses.get(1, 0) > 50  # both kinds were tried


def test_attack_signature_built_from_a_list_of_chains_stays_immutable() -> None:
    """A list given to ``Signature`` is kept as a tuple: no one edits chains after a check."""
    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    honest = backend.sign(Imprint.hash(b"list"))
    chains = list(honest.aggregation_chains)
    sig = Signature(chains, honest.calendar_chain, calendar_auth_record=honest.calendar_auth_record)
    chains.clear()
    assert isinstance(sig.aggregation_chains, tuple)
    assert sig.aggregation_chains == honest.aggregation_chains


def test_evolved_metadata_cannot_show_another_issuer_than_it_hashes():
    """``evolve(metadata, client_id=...)`` kept the old value: another issuer shown than hashed.

    A metadata link's ``value`` is what its chain hashes; ``client_id`` is
    the issuer a result and ``Signature.issuer`` show. Before the fix the
    constructor (and so :func:`evolve`) accepted any pair, so a signature
    built in code verified OK while naming an issuer its hashes do not hold.
    """
    honest = Metadata.build("alice", sequence_number=7)
    with pytest.raises(ValueError, match="differ from what its value encodes"):
        evolve(honest, client_id="mallory")
    with pytest.raises(ValueError, match="differ from what its value encodes"):
        Metadata(honest.value, "mallory", None, 7)
    with pytest.raises(ValueError, match="differ from what its value encodes"):
        Metadata(honest.value, "alice", None, 8)
    # The fields the value encodes are accepted (child types and padding read from it).
    same = Metadata(honest.value, "alice", sequence_number=7)
    assert same == honest
    assert same.raw == b""
    # A malformed value is refused as the parser refuses it.
    with pytest.raises(FormatError):
        Metadata(b"\x01\x03ab\x00\x01", "ab")
    # A signature made with the honest metadata still shows and hashes one issuer.
    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    sig = backend.sign(Imprint.hash(b"document"))
    (meta,) = sig.aggregation_chains[0].metadata_siblings
    assert (
        Metadata(
            meta.value, meta.client_id, meta.machine_id, meta.sequence_number, meta.request_time
        )
        == meta
    )
