"""KSI hash algorithms, imprints and streaming hashing.

CONSENSUS-CRITICAL: the algorithm ids, digest sizes and deprecation dates
decide how existing signatures verify. Changing them can invalidate issued
signatures.

An *imprint* is one algorithm-id byte followed by the raw digest
(spec/ksi-format.md section 2). Imprints compare byte for byte, so the
algorithm byte is part of equality.
"""

from __future__ import annotations

import enum
import hashlib
import io
from collections.abc import Callable, Iterable
from typing import BinaryIO

from jura_trust._value import Value, _init
from jura_trust.errors import ErrorCode, FormatError

__all__ = [
    "DEFAULT_ALGORITHM",
    "MAX_IMPRINT_LENGTH",
    "AlgorithmStatus",
    "DataHasher",
    "HashAlgorithm",
    "Imprint",
    "hash_bytes",
    "hash_constructor",
]

#: The largest imprint any supported algorithm produces (1 + 64 bytes).
MAX_IMPRINT_LENGTH = 65

#: Bytes read at a time when hashing a stream; memory stays bounded by this.
STREAM_CHUNK_SIZE = 1 << 20


class AlgorithmStatus(enum.Enum):
    """The status of an algorithm at a given time (spec section 2)."""

    NORMAL = "normal"
    DEPRECATED = "deprecated"
    OBSOLETE = "obsolete"


class _AlgorithmInfo(Value):
    __slots__ = (
        "aliases",
        "block_size",
        "deprecated_since",
        "digest_size",
        "hashlib_name",
        "id",
        "name",
        "obsolete_since",
    )
    _fields = (
        "id",
        "name",
        "hashlib_name",
        "digest_size",
        "block_size",
        "deprecated_since",
        "obsolete_since",
        "aliases",
    )
    id: int
    name: str
    hashlib_name: str
    digest_size: int
    block_size: int
    deprecated_since: int | None
    obsolete_since: int | None
    aliases: tuple[str, ...]

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        id: int,  # noqa: A002 - the KSI name of the column
        name: str,
        hashlib_name: str,
        digest_size: int,
        block_size: int,
        deprecated_since: int | None = None,
        obsolete_since: int | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        _init(self, "id", id)
        _init(self, "name", name)
        _init(self, "hashlib_name", hashlib_name)
        _init(self, "digest_size", digest_size)
        _init(self, "block_size", block_size)
        _init(self, "deprecated_since", deprecated_since)
        _init(self, "obsolete_since", obsolete_since)
        _init(self, "aliases", aliases)


class HashAlgorithm(enum.Enum):
    """The KSI hash algorithm table. The value is the one-byte KSI id.

    Names are spelt as the KSI tools spell them (``SHA-256``, ``SHA3-256``);
    :meth:`from_name` also accepts common variants (``sha256``, ``sha3_256``).
    """

    SHA1 = 0x00
    SHA2_256 = 0x01
    RIPEMD160 = 0x02
    SHA2_384 = 0x04
    SHA2_512 = 0x05
    SHA3_224 = 0x07
    SHA3_256 = 0x08
    SHA3_384 = 0x09
    SHA3_512 = 0x0A
    SM3 = 0x0B

    @property
    def _info(self) -> _AlgorithmInfo:
        # ``_value_`` is the member's plain attribute; ``value`` goes through
        # enum's descriptor, several times slower on the hot paths.
        return _INFO[self._value_]

    @property
    def id(self) -> int:
        """The one-byte KSI algorithm id."""
        return self.value

    @property
    def ksi_name(self) -> str:
        """The name as the KSI tools print it, e.g. ``SHA-256``."""
        return self._info.name

    @property
    def digest_size(self) -> int:
        """Digest length in bytes."""
        return self._info.digest_size

    @property
    def imprint_size(self) -> int:
        """Imprint length in bytes: one id byte plus the digest."""
        return self._info.digest_size + 1

    @property
    def block_size(self) -> int:
        """Block size in bytes (used by HMAC)."""
        return self._info.block_size

    @property
    def hashlib_name(self) -> str:
        """The name :func:`hashlib.new` knows the algorithm by."""
        return self._info.hashlib_name

    @property
    def deprecated_since(self) -> int | None:
        """Unix time from which the algorithm is deprecated, or ``None``."""
        return self._info.deprecated_since

    @property
    def obsolete_since(self) -> int | None:
        """Unix time from which the algorithm is obsolete, or ``None``."""
        return self._info.obsolete_since

    def status_at(self, when: int) -> AlgorithmStatus:
        """The algorithm's status at Unix time ``when``."""
        info = self._info
        if info.obsolete_since is not None and info.obsolete_since <= when:
            return AlgorithmStatus.OBSOLETE
        if info.deprecated_since is not None and info.deprecated_since <= when:
            return AlgorithmStatus.DEPRECATED
        return AlgorithmStatus.NORMAL

    def is_deprecated_at(self, when: int) -> bool:
        """True if deprecated *or* obsolete at ``when``."""
        return self.status_at(when) is not AlgorithmStatus.NORMAL

    def is_obsolete_at(self, when: int) -> bool:
        """True if obsolete at ``when``."""
        return self.status_at(when) is AlgorithmStatus.OBSOLETE

    @property
    def trusted(self) -> bool:
        """True if allowed for new signing requests (no date set at all)."""
        return self._info.deprecated_since is None and self._info.obsolete_since is None

    def new(self) -> hashlib._Hash:
        """A fresh hashlib object for this algorithm.

        Raises :class:`FormatError` (FMT-16) if this Python's OpenSSL lacks it.
        """
        return _constructor(self)()

    def digest(self, data: bytes) -> bytes:
        """The raw digest of ``data``."""
        return _constructor(self)(data).digest()

    def imprint_of(self, data: bytes) -> bytes:
        """The imprint (id byte + digest) of ``data`` as raw bytes."""
        return bytes((self.value,)) + _constructor(self)(data).digest()

    @classmethod
    def from_id(cls, alg_id: int) -> HashAlgorithm:
        """Look an algorithm up by KSI id; unknown or reserved ids raise FMT-08."""
        try:
            return _BY_ID[alg_id]
        except KeyError:
            raise FormatError(
                f"unknown or reserved hash algorithm id 0x{alg_id:02x}",
                code=ErrorCode.FMT_BAD_IMPRINT,
                algorithm_id=alg_id,
            ) from None

    @classmethod
    def from_name(cls, name: str) -> HashAlgorithm:
        """Look an algorithm up by name (``SHA-256``, ``sha256``, ``SHA3-256``...)."""
        key = _normalise(name)
        try:
            return _BY_NAME[key]
        except KeyError:
            raise ValueError(f"unknown hash algorithm name {name!r}") from None

    def __str__(self) -> str:
        return self.ksi_name


def _normalise(name: str) -> str:
    return name.strip().upper().replace("_", "").replace("-", "")


_INFO: dict[int, _AlgorithmInfo] = {
    0x00: _AlgorithmInfo(0x00, "SHA-1", "sha1", 20, 64, deprecated_since=1467331200),
    0x01: _AlgorithmInfo(0x01, "SHA-256", "sha256", 32, 64, aliases=("SHA2-256", "DEFAULT")),
    0x02: _AlgorithmInfo(0x02, "RIPEMD-160", "ripemd160", 20, 64),
    0x04: _AlgorithmInfo(0x04, "SHA-384", "sha384", 48, 128, aliases=("SHA2-384",)),
    0x05: _AlgorithmInfo(0x05, "SHA-512", "sha512", 64, 128, aliases=("SHA2-512",)),
    0x07: _AlgorithmInfo(0x07, "SHA3-224", "sha3_224", 28, 144),
    0x08: _AlgorithmInfo(0x08, "SHA3-256", "sha3_256", 32, 136),
    0x09: _AlgorithmInfo(0x09, "SHA3-384", "sha3_384", 48, 104),
    0x0A: _AlgorithmInfo(0x0A, "SHA3-512", "sha3_512", 64, 72),
    0x0B: _AlgorithmInfo(0x0B, "SM3", "sm3", 32, 64),
}

_BY_ID: dict[int, HashAlgorithm] = {alg.value: alg for alg in HashAlgorithm}
_BY_NAME: dict[str, HashAlgorithm] = {}
for _alg in HashAlgorithm:
    _i = _INFO[_alg.value]
    for _n in (_i.name, _i.hashlib_name, _alg.name, *_i.aliases):
        _BY_NAME[_normalise(_n)] = _alg

#: Sizes of imprints by algorithm id, for fast validation in hot paths.
IMPRINT_SIZES: dict[int, int] = {i: info.digest_size + 1 for i, info in _INFO.items()}

_CONSTRUCTORS: dict[HashAlgorithm, Callable[..., hashlib._Hash]] = {}


def _constructor(alg: HashAlgorithm) -> Callable[..., hashlib._Hash]:
    ctor = _CONSTRUCTORS.get(alg)
    if ctor is not None:
        return ctor
    name = alg.hashlib_name
    direct = getattr(hashlib, name, None)
    if direct is not None:
        ctor = direct
    else:
        try:
            hashlib.new(name)
        except ValueError:
            raise FormatError(
                f"hash algorithm {alg.ksi_name} is not available in this Python build",
                code=ErrorCode.FMT_UNSUPPORTED_ALGORITHM,
                algorithm=alg.ksi_name,
            ) from None

        def ctor(data: bytes = b"", _name: str = name) -> hashlib._Hash:
            return hashlib.new(_name, data)

    _CONSTRUCTORS[alg] = ctor
    return ctor


def hash_constructor(algorithm: HashAlgorithm | int) -> Callable[..., hashlib._Hash]:
    """The fastest ``data -> hash object`` callable for an algorithm or KSI id.

    For hot paths (chain evaluation, tree building). Results are memoised
    in a module cache: a pure function of the algorithm, so no state leaks
    between callers. An unknown id raises FMT-08; an algorithm this Python
    lacks raises FMT-16.
    """
    alg = algorithm if isinstance(algorithm, HashAlgorithm) else HashAlgorithm.from_id(algorithm)
    return _constructor(alg)


#: The default algorithm for new signatures.
DEFAULT_ALGORITHM = HashAlgorithm.SHA2_256


def _check_imprint(value: bytes) -> None:
    if len(value) < 1:
        raise FormatError("empty imprint", code=ErrorCode.FMT_BAD_IMPRINT)
    size = IMPRINT_SIZES.get(value[0])
    if size is None:
        raise FormatError(
            f"unknown or reserved hash algorithm id 0x{value[0]:02x} in imprint",
            code=ErrorCode.FMT_BAD_IMPRINT,
            algorithm_id=value[0],
        )
    if len(value) != size:
        raise FormatError(
            f"imprint length {len(value)} does not match its algorithm "
            f"({_INFO[value[0]].name} needs {size})",
            code=ErrorCode.FMT_BAD_IMPRINT,
            length=len(value),
        )


class Imprint(Value):
    """A hash imprint: KSI algorithm id byte followed by the digest.

    >>> imp = Imprint.of(HashAlgorithm.SHA2_256, bytes(32))
    >>> str(imp)[:12]
    'SHA-256:0000'
    >>> Imprint.parse(str(imp)) == imp
    True
    """

    __slots__ = ("value",)
    _fields = ("value",)
    #: The imprint's bytes: the algorithm id, then the digest.
    value: bytes

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"imprint value must be bytes, not {type(value).__name__}")
        _check_imprint(value)
        _init(self, "value", value)

    # Imprints are compared and hashed in hot paths (calendar caches, rule
    # checks): by their bytes, directly.
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.value == other.value

    def __ne__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.value != other.value

    def __hash__(self) -> int:
        return hash(self.value)

    @classmethod
    def of(cls, algorithm: HashAlgorithm, digest: bytes) -> Imprint:
        """Build from an algorithm and a raw digest."""
        return cls(bytes((algorithm.value,)) + bytes(digest))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Imprint:
        """Parse raw imprint bytes; bad ids or lengths raise FMT-08."""
        return cls(bytes(raw))

    @classmethod
    def hash(cls, data: bytes, algorithm: HashAlgorithm = DEFAULT_ALGORITHM) -> Imprint:
        """The imprint of ``data`` under ``algorithm``."""
        return cls(algorithm.imprint_of(data))

    @classmethod
    def parse(cls, text: str) -> Imprint:
        """Parse ``ALG:HEX`` (``SHA-256:ab12...``) or a bare imprint in hex."""
        text = text.strip()
        try:
            if ":" in text:
                name, hexdigest = text.split(":", 1)
                alg = HashAlgorithm.from_name(name)
                return cls.of(alg, bytes.fromhex(hexdigest))
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(
                f"cannot read imprint {text!r}: {exc}", code=ErrorCode.FMT_BAD_IMPRINT
            ) from None

    @property
    def algorithm(self) -> HashAlgorithm:
        """The hash algorithm."""
        return _BY_ID[self.value[0]]

    @property
    def algorithm_id(self) -> int:
        """The algorithm's KSI id byte."""
        return self.value[0]

    @property
    def digest(self) -> bytes:
        """The raw digest, without the algorithm byte."""
        return self.value[1:]

    def hex(self) -> str:
        """The whole imprint in lower-case hex."""
        return self.value.hex()

    def __bytes__(self) -> bytes:
        return self.value

    def __len__(self) -> int:
        return len(self.value)

    def __str__(self) -> str:
        return f"{self.algorithm.ksi_name}:{self.digest.hex()}"


def _imprint_unchecked(value: bytes) -> Imprint:
    """An :class:`Imprint` of ``value`` without the validator (private).

    Only for bytes that are an imprint by construction (an algorithm's id
    byte followed by that algorithm's digest, or bytes the caller has just
    checked against :data:`IMPRINT_SIZES`): chain evaluation and parsers.
    """
    imprint = object.__new__(Imprint)
    _init(imprint, "value", value)
    return imprint


class DataHasher:
    """Streaming hasher producing an :class:`Imprint`, in bounded memory.

    >>> h = DataHasher()
    >>> h.update(b"LAPTOP")
    >>> h.imprint().hex()[:8]
    '0111a700'
    """

    __slots__ = ("_algorithm", "_done", "_hash")

    def __init__(self, algorithm: HashAlgorithm = DEFAULT_ALGORITHM) -> None:
        if not isinstance(algorithm, HashAlgorithm):
            raise TypeError("algorithm must be a HashAlgorithm")
        self._algorithm = algorithm
        self._hash = algorithm.new()
        self._done = False

    @property
    def algorithm(self) -> HashAlgorithm:
        """The algorithm in use."""
        return self._algorithm

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed more data."""
        if self._done:
            raise ValueError("DataHasher already finalised")
        self._hash.update(data)

    def update_stream(
        self,
        stream: BinaryIO | io.BufferedIOBase,
        *,
        chunk_size: int = STREAM_CHUNK_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Feed a binary stream to its end; return the number of bytes read.

        ``progress`` is called with the byte count of each chunk read.
        """
        total = 0
        while True:
            chunk = stream.read(chunk_size)
            if not chunk:
                break
            self.update(chunk)
            total += len(chunk)
            if progress is not None:
                progress(len(chunk))
        return total

    def imprint(self) -> Imprint:
        """Finish and return the imprint. The hasher cannot be fed afterwards."""
        self._done = True
        return Imprint(bytes((self._algorithm.value,)) + self._hash.digest())


def hash_bytes(data: bytes, algorithm: HashAlgorithm = DEFAULT_ALGORITHM) -> Imprint:
    """The imprint of ``data``."""
    return Imprint(algorithm.imprint_of(data))


def iter_algorithms() -> Iterable[HashAlgorithm]:
    """All algorithms in id order."""
    return sorted(HashAlgorithm, key=lambda a: a.value)
