"""Every key, publications-file, user-publication and calendar row of libksi's test pack.

Rows whose publications-file column is empty used Guardtime's live file; as
MANIFEST.md says, the real 2024 file (`pubfiles/publications-file.bin`)
stands in for it. Calendar rows without an extender-response file used the
live extender and cannot run offline: they are listed in LIVE_ONLY and the
test asserts that exactly those are the ones left out.

The pack's publications files are given to the policies as trusted, as the
reference verifier does with a file the user hands in (their CMS signatures
are checked in tests/test_publications.py).
"""

import pytest

from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import decode_publication_string
from jura_trust.core.signature import Signature
from jura_trust.errors import Outcome
from jura_trust.pdu import recorded_extender
from jura_trust.verify import verify_signature
from tests.vectors import pack_rows, trusted_pubfile

POLICY = {
    "key": "key",
    "userPublication": "user-publication",
    "publicationsFile": "publications-file",
    "calendar": "calendar",
}
ROWS = [r for r in pack_rows() if r.policy in POLICY]
RUNNABLE = [r for r in ROWS if not (r.policy == "calendar" and not r.extender_response)]
LIVE_ONLY = {r.id for r in ROWS} - {r.id for r in RUNNABLE}
LIVE_PUBFILE = trusted_pubfile("pubfiles/publications-file.bin")


def test_rows_present():
    assert len(ROWS) == 38
    # only calendar rows that needed Guardtime's live extender are left out
    assert len(LIVE_ONLY) == 7
    assert all(i.endswith(":calendar") for i in LIVE_ONLY)


@pytest.mark.parametrize("row", RUNNABLE, ids=lambda r: r.id)
def test_row(row):
    sig = Signature.from_bytes(row.path.read_bytes())
    if row.publications_file:
        path = row.resource(row.publications_file)
        assert path is not None, row.publications_file
        pubfile = trusted_pubfile(str(path))
    else:
        pubfile = LIVE_PUBFILE
    extender = None
    if row.extender_response:
        path = row.resource(row.extender_response)
        assert path is not None, row.extender_response
        extender = recorded_extender(path.read_bytes(), hmac_key=b"anon")
    user = None
    if row.policy == "userPublication" and row.publication_string:
        user = decode_publication_string(row.publication_string)
    doc = Imprint.from_bytes(bytes.fromhex(row.document_hash)) if row.document_hash else None
    result = verify_signature(
        sig,
        policy=POLICY[row.policy],
        document_hash=doc,
        input_level=row.input_level,
        publications_file=pubfile,
        user_publication=user,
        extending_allowed=row.extending_permitted,
        extender=extender,
    )
    got = result.code.value if result.code else ""
    assert got == row.code, result
    if not row.code:
        assert result.outcome is Outcome.OK
    elif row.code == "GEN-02":
        assert result.outcome is Outcome.NA
    else:
        assert result.outcome is Outcome.FAIL
