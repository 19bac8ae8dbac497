import hashlib

import pytest

from jura_trust.api import hash_file
from jura_trust.errors import ErrorCode, FormatError


def test_hash_file_and_progress(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 3_000_000)
    seen = []
    imp = hash_file(path, progress=seen.append)
    assert imp.digest == hashlib.sha256(b"a" * 3_000_000).digest()
    assert sum(seen) == 3_000_000 and len(seen) >= 2


def test_hash_file_missing(tmp_path):
    with pytest.raises(FormatError) as err:
        hash_file(tmp_path / "missing")
    assert err.value.code is ErrorCode.FMT_IO
