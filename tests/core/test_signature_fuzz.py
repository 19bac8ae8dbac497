"""Fuzzing the signature parser and the verifier: only JuraError escapes.

Bounded in CI; JURA_TRUST_LONG=1 (tests/budget.py) runs 5,000 examples for
the profile-default tests and 25 times the explicit counts. A longer run:
``JURA_TRUST_LONG=1 pytest -m fuzz -p no:cacheprovider`` with
``--hypothesis-seed`` varied.
"""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.core import tlv
from jura_trust.core.signature import Signature
from jura_trust.errors import JuraError
from jura_trust.verify import verify_signature
from tests.budget import scaled
from tests.mutations import mutate
from tests.vectors import KSI

ALL = sorted(p for p in (KSI / "signatures").rglob("*") if p.is_file())
ALL += sorted(p for p in (KSI / "test_pack").rglob("*") if p.suffix in (".ksig", ".tlv"))
CORPUS = [p.read_bytes() for p in ALL]


def parse_and_verify(data: bytes) -> None:
    try:
        sig = Signature.from_bytes(data)
    except JuraError:
        return
    for policy in ("internal", "key", "publications-file", "general"):
        verify_signature(sig, policy=policy)


@pytest.mark.fuzz
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    parse_and_verify(data)


@pytest.mark.fuzz
@given(st.binary(max_size=1500))
def test_random_signature_body(body: bytes) -> None:
    parse_and_verify(tlv.encode(0x800, body))


@pytest.mark.fuzz
@settings(max_examples=scaled(300))
@given(st.data())
def test_mutations_of_every_vector(data: st.DataObject) -> None:
    parse_and_verify(mutate(data, data.draw(st.sampled_from(CORPUS))))


def test_corpus_is_large():
    assert len(CORPUS) > 250
    assert all(isinstance(p, Path) for p in ALL)
