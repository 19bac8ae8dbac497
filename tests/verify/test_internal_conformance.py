"""Every internal-policy and parsing row of libksi's test pack whose file is here."""

import pytest

from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import FormatError, Outcome
from jura_trust.verify import verify_signature
from tests.vectors import pack_rows

ROWS = [r for r in pack_rows() if r.policy in ("internal", "parsing")]


def test_pack_is_present():
    assert len(ROWS) >= 200


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_row(row):
    data = row.path.read_bytes()
    if row.policy == "parsing":
        with pytest.raises(FormatError):
            Signature.from_bytes(data)
        return
    sig = Signature.from_bytes(data)
    assert sig.encode() == data
    doc = Imprint.from_bytes(bytes.fromhex(row.document_hash)) if row.document_hash else None
    result = verify_signature(
        sig, policy="internal", document_hash=doc, input_level=row.input_level
    )
    if row.code:
        assert result.outcome is Outcome.FAIL
        assert result.code is not None and result.code.value == row.code
    else:
        assert result.outcome is Outcome.OK, result
        if row.calendar_input and sig.calendar_chain is not None:
            assert sig.calendar_chain.input_hash.hex().upper() == row.calendar_input.upper()
        if row.calendar_output and sig.calendar_chain is not None:
            assert sig.calendar_chain.root().hex().upper() == row.calendar_output.upper()
        if row.aggregation_time:
            assert sig.aggregation_time == int(row.aggregation_time)
