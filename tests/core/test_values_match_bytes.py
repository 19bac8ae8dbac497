"""Values that lie (issue 8, defect 2): a value's encoding always matches its fields.

Parsed values keep their input bytes so they re-encode byte for byte, but
only the parser sets them: any change through :func:`attrs.evolve` encodes
from the fields again. Before, ``evolve(sig, calendar_auth_record=None)
.encode()`` still returned the original bytes, auth record included.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust._value import evolve
from jura_trust.core.chains import AggregationChain, CalendarChain
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import Signature
from jura_trust.errors import FormatError
from jura_trust.publications import PublicationsFile
from tests.budget import scaled
from tests.vectors import KSI, ksi_bytes

VALID = sorted(glob.glob(str(KSI / "signatures" / "valid" / "*")))
SIGNATURES = [Signature.from_bytes(Path(p).read_bytes()) for p in VALID]


def test_evolve_without_auth_record_drops_it_from_the_encoding():
    sig = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig"))
    assert sig.calendar_auth_record is not None
    edited = evolve(sig, calendar_auth_record=None)
    again = Signature.from_bytes(edited.encode())
    assert again.calendar_auth_record is None
    assert again == edited
    assert edited.encode() != sig.encode()


@pytest.mark.parametrize("path", VALID, ids=os.path.basename)
def test_unchanged_values_keep_their_bytes(path: str):
    data = Path(path).read_bytes()
    sig = Signature.from_bytes(data)
    assert sig.encode() == data
    # evolve with no change re-encodes from the fields: same meaning
    assert Signature.from_bytes(evolve(sig).encode()) == sig


def test_raw_is_not_an_init_argument():
    """Nobody but a parser can pair a value with bytes that say something else."""
    sig = SIGNATURES[0]
    with pytest.raises(TypeError):
        evolve(sig, raw=b"")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        evolve(sig.aggregation_chains[0], raw=sig.encode())  # type: ignore[call-arg]


UINT = st.integers(min_value=0, max_value=(1 << 40))


@st.composite
def edited_signatures(draw: st.DrawFn) -> tuple[Signature, Signature]:
    """A parsed signature and a random edit of it made through evolve."""
    sig = draw(st.sampled_from(SIGNATURES))
    edit = draw(st.integers(0, 6))
    chains = list(sig.aggregation_chains)
    cal = sig.calendar_chain
    if edit == 0:
        edited = evolve(sig, calendar_auth_record=None, publication_record=None)
    elif edit == 1:
        edited = evolve(
            sig, calendar_chain=None, calendar_auth_record=None, publication_record=None
        )
    elif edit == 2:
        i = draw(st.integers(0, len(chains) - 1))
        chains[i] = evolve(chains[i], aggregation_time=draw(UINT))
        edited = evolve(sig, aggregation_chains=tuple(chains))
    elif edit == 3:
        i = draw(st.integers(0, len(chains) - 1))
        links = list(chains[i].links)
        j = draw(st.integers(0, len(links) - 1))
        links[j] = evolve(links[j], level_correction=draw(st.integers(0, 255)))
        chains[i] = evolve(chains[i], links=tuple(links))
        edited = evolve(sig, aggregation_chains=tuple(chains))
    elif edit == 4 and cal is not None:
        edited = evolve(sig, calendar_chain=evolve(cal, publication_time=draw(UINT)))
    elif edit == 5 and cal is not None:
        field = draw(st.none() | UINT)
        edited = evolve(sig, calendar_chain=evolve(cal, aggregation_time_field=field))
    elif sig.publication_record is not None:
        data = PublicationData.build(draw(UINT), sig.publication_record.published_hash)
        edited = evolve(sig, publication_record=PublicationRecord.build(data))
    else:
        edited = evolve(sig, unknown=())
    return sig, edited


@given(edited_signatures())
@settings(max_examples=scaled(200))
def test_decode_encode_of_any_evolved_signature_is_itself(pair: tuple[Signature, Signature]):
    _original, edited = pair
    try:
        again = Signature.from_bytes(edited.encode())
    except FormatError:
        return  # an edit the codec cannot express (e.g. a chain index too long) is refused
    assert again == edited
    for got, want in zip(again.aggregation_chains, edited.aggregation_chains, strict=True):
        assert got.aggregation_time == want.aggregation_time
        assert [x.level_correction for x in got.links] == [x.level_correction for x in want.links]
    if edited.calendar_chain is not None:
        assert again.calendar_chain is not None
        assert again.calendar_chain.publication_time == edited.calendar_chain.publication_time
        assert (
            again.calendar_chain.aggregation_time_field
            == edited.calendar_chain.aggregation_time_field
        )


@given(st.sampled_from(SIGNATURES), UINT)
@settings(max_examples=scaled(100))
def test_evolved_chains_encode_their_fields(sig: Signature, t: int):
    chain = evolve(sig.aggregation_chains[0], aggregation_time=t)
    assert AggregationChain.from_tlv(_element(chain.encode())) == chain
    if sig.calendar_chain is not None:
        cal = evolve(sig.calendar_chain, publication_time=t)
        assert CalendarChain.from_tlv(_element(cal.encode())) == cal


def _element(data: bytes):
    from jura_trust.core import tlv

    return tlv.decode(data)


def test_evolved_publications_file_is_unsigned_and_encodes_its_fields():
    """Changing a signed file's publications cannot keep the old signature."""
    data = ksi_bytes("pubfiles/publications.tlv")
    pubfile = PublicationsFile.parse(data)
    assert pubfile.encode() == data
    assert pubfile.signature_der is not None
    forged = evolve(pubfile, publications=pubfile.publications[:-1])
    assert forged.signature_der is None
    assert forged.signed_bytes != pubfile.signed_bytes
    with pytest.raises(ValueError, match="not signed"):
        forged.encode()
