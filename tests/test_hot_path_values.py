"""The service hot path builds exactly the values the slow paths build (issue 10, item 3).

* Metadata per login (``Metadata.builder``, cached per login by the
  aggregator) equals ``Metadata.build``, and both equal what the parser reads
  back from their own encoding, field by field (issue 8: a value's encoding
  matches its fields).
* ``Tree.shape_indices`` (one pass from the root) equals ``shape_index`` per
  leaf (one walk up per leaf) for trees of every shape.
* ``AggregationRound.iter_encoded_aggregation_chains`` streams the same bytes
  as ``aggregation_chain(i).encode()``.
* The aggregation-request fast path of the PDU parser agrees with the
  template parser on valid and mutated requests (it only ever hands over).
"""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core import tlv
from jura_trust.core.chains import Metadata
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.tree import TreeBuilder
from jura_trust.errors import ErrorCode, FormatError, JuraError
from jura_trust.pdu import _AGGR_REQUEST_TEMPLATE, AggregationRequest
from tests.budget import scaled
from tests.core.test_sigparse import same_value

UINT = st.none() | st.integers(0, (1 << 64) - 1)
TEXT = st.text(max_size=300).filter(lambda t: "\x00" not in t)


@settings(max_examples=scaled(200))
@given(TEXT, st.none() | TEXT, UINT, UINT)
def test_metadata_build_equals_its_parsed_encoding(
    client: str, machine: str | None, seq: int | None, when: int | None
):
    built = Metadata.build(client, machine_id=machine, sequence_number=seq, request_time=when)
    parsed = Metadata.from_tlv(tlv.decode(built.raw))
    same_value(built, parsed)
    assert built.encode() == built.raw
    if machine is None:
        same_value(Metadata.builder(client)(seq, when), built)


def test_metadata_builder_refuses_what_build_refuses():
    with pytest.raises(ValueError, match="NUL"):
        Metadata.builder("a\x00b")
    with pytest.raises(ValueError, match="out of range"):
        Metadata.builder("login")(-1, None)


@pytest.mark.parametrize("n", [*range(1, 34), 100, 257, 1000])
def test_shape_indices_in_one_pass_equal_the_walk_per_leaf(n: int):
    rng = random.Random(n)
    for mode in ("plain", "metadata", "mixed"):
        builder = TreeBuilder()
        for i in range(n):
            meta = None
            level = 0
            if mode == "metadata" or (mode == "mixed" and rng.random() < 0.5):
                meta = Metadata.build("c", sequence_number=i)
            if mode == "mixed":
                level = rng.randint(0, 4)
            builder.add_leaf(Imprint.hash(b"%d" % i), level=level, metadata=meta)
        tree = builder.build()
        assert tree.shape_indices() == [tree.shape_index(i) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 7, 300])
def test_streamed_round_chains_equal_each_chain_encoded(n: int, tmp_path):
    with EmbeddedBackend(tmp_path) as backend:
        requests = [RoundRequest(Imprint.hash(b"%d" % i), i % 3, f"login{i % 4}") for i in range(n)]
        requests.append(RoundRequest(Imprint.hash(b"sha512", HashAlgorithm.SHA2_512), 0, "x"))
        rnd = backend.aggregate(requests)
        want = [rnd.aggregation_chain(i).encode() for i in range(len(requests))]
        assert list(rnd.iter_encoded_aggregation_chains()) == want
        assert rnd.encoded_aggregation_chains() == want


def _reference_request(element: tlv.TLV) -> AggregationRequest | JuraError:
    try:
        p = tlv.parse_composite(element, _AGGR_REQUEST_TEMPLATE)
        if p.get("request_level", 0) > 0xFF:
            return FormatError("level", code=ErrorCode.FMT_LIMIT)
        return AggregationRequest(
            p["request_id"], p["request_hash"], p.get("request_level", 0), p.unknown
        )
    except JuraError as exc:
        return exc


@settings(max_examples=scaled(400))
@given(st.integers(0, (1 << 64) - 1), st.integers(0, 255), st.data())
def test_aggregation_request_fast_path_agrees_with_the_template(
    request_id: int, level: int, data: st.DataObject
):
    value = bytearray(
        tlv.decode(AggregationRequest(request_id, Imprint.hash(b"x"), level).encode()).value
    )
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(value) - 1))
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip":
            value[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del value[pos:]
            if not value:
                break
        else:
            value[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    element = tlv.decode(tlv.encode(0x02, bytes(value)))
    want = _reference_request(element)
    try:
        got: AggregationRequest | JuraError = AggregationRequest.from_tlv(element)
    except JuraError as exc:
        got = exc
    if isinstance(want, JuraError):
        assert isinstance(got, JuraError)
        assert got.code == want.code
    else:
        assert isinstance(got, AggregationRequest)
        same_value(got, want)
        assert attrs.asdict(got) == attrs.asdict(want)


def test_per_login_metadata_is_not_parsed_again_per_request(tmp_path, monkeypatch):
    """Issue 10 item 3: each request's metadata was built, encoded and parsed back."""
    with EmbeddedBackend(tmp_path) as backend:
        pending = backend.open_round()
        pending.add(RoundRequest(Imprint.hash(b"warm"), 0, "alice"))

        def no_parsing(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("metadata parsed again on the hot path")

        monkeypatch.setattr(Metadata, "from_tlv", no_parsing)
        monkeypatch.setattr(tlv, "parse_composite", no_parsing)
        for i in range(20):
            pending.add(RoundRequest(Imprint.hash(b"%d" % i), 0, f"login{i % 3}"))
        monkeypatch.undo()
        rnd = backend.close_round(pending)
        assert [s.issuer[0] for s in rnd.signatures[1:4]] == ["login0", "login1", "login2"]


def test_round_close_does_not_walk_the_tree_per_leaf(tmp_path, monkeypatch):
    """Issue 10 item 3: every leaf's chain index walked the tree again at close."""
    from jura_trust.core.tree import Tree

    with EmbeddedBackend(tmp_path) as backend:
        rnd = backend.aggregate([RoundRequest(Imprint.hash(b"%d" % i)) for i in range(50)])
        want = [rnd.aggregation_chain(i).encode() for i in range(50)]

        def no_walk(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("a walk up the tree per leaf")

        monkeypatch.setattr(Tree, "_path", no_walk)
        monkeypatch.setattr(Tree, "shape_index", no_walk)
        assert list(rnd.iter_encoded_aggregation_chains()) == want
