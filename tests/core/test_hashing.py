import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jura_trust.core.hashing import (
    AlgorithmStatus,
    DataHasher,
    HashAlgorithm,
    Imprint,
)
from jura_trust.errors import ErrorCode, FormatError

SHA1_DEPRECATED = 1467331200


def test_table_matches_spec():
    sizes = {alg.id: alg.digest_size for alg in HashAlgorithm}
    assert sizes == {0: 20, 1: 32, 2: 20, 4: 48, 5: 64, 7: 28, 8: 32, 9: 48, 10: 64, 11: 32}
    assert HashAlgorithm.SHA3_384.block_size == 104
    # every imprint length is odd: the metadata padding rule relies on it
    assert all(alg.imprint_size % 2 == 1 for alg in HashAlgorithm)


@pytest.mark.parametrize("reserved", [0x03, 0x06, 0x0C, 0xFF])
def test_reserved_ids_rejected(reserved):
    with pytest.raises(FormatError) as err:
        HashAlgorithm.from_id(reserved)
    assert err.value.code is ErrorCode.FMT_BAD_IMPRINT


def test_sha1_status():
    sha1 = HashAlgorithm.SHA1
    assert sha1.status_at(SHA1_DEPRECATED - 1) is AlgorithmStatus.NORMAL
    assert sha1.status_at(SHA1_DEPRECATED) is AlgorithmStatus.DEPRECATED
    assert not sha1.is_obsolete_at(2**40)
    assert not sha1.trusted
    assert HashAlgorithm.SHA2_256.trusted


@pytest.mark.parametrize(
    ("name", "alg"),
    [
        ("SHA-256", HashAlgorithm.SHA2_256),
        ("sha256", HashAlgorithm.SHA2_256),
        ("SHA3-256", HashAlgorithm.SHA3_256),
        ("sha3_512", HashAlgorithm.SHA3_512),
        ("RIPEMD-160", HashAlgorithm.RIPEMD160),
        ("SHA-1", HashAlgorithm.SHA1),
    ],
)
def test_names(name, alg):
    assert HashAlgorithm.from_name(name) is alg


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown"):
        HashAlgorithm.from_name("MD5")


def test_laptop_vector():
    # MANIFEST: 0111a700...772d is SHA-256("LAPTOP")
    imp = Imprint.hash(b"LAPTOP")
    assert imp.hex().startswith("0111a700") and imp.hex().endswith("772d")


def test_imprint_validation():
    with pytest.raises(FormatError) as err:
        Imprint(b"\x01" + bytes(31))
    assert err.value.code is ErrorCode.FMT_BAD_IMPRINT
    with pytest.raises(FormatError):
        Imprint(b"")
    with pytest.raises(FormatError):
        Imprint(b"\x03" + bytes(20))


def test_imprint_text_round_trip():
    imp = Imprint.hash(b"x", HashAlgorithm.SHA3_256)
    assert Imprint.parse(str(imp)) == imp
    assert Imprint.parse(imp.hex()) == imp
    with pytest.raises(FormatError):
        Imprint.parse("SHA-256:zz")
    with pytest.raises(FormatError):
        Imprint.parse("SHA-256:00")


def test_algorithm_byte_is_part_of_equality():
    digest = bytes(32)
    assert Imprint.of(HashAlgorithm.SHA2_256, digest) != Imprint.of(HashAlgorithm.SHA3_256, digest)


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=700))
def test_streaming_equals_one_shot(data, chunk):
    h = DataHasher(HashAlgorithm.SHA2_512)
    n = h.update_stream(io.BytesIO(data), chunk_size=chunk)
    assert n == len(data)
    assert h.imprint().digest == hashlib.sha512(data).digest()


def test_hasher_cannot_be_reused():
    h = DataHasher()
    h.imprint()
    with pytest.raises(ValueError, match="finalised"):
        h.update(b"x")
