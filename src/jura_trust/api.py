"""The high-level API: sign, extend and verify documents (re-exported by :mod:`jura_trust`).

>>> from jura_trust import EmbeddedBackend, ManualClock, sign_bytes, verify
>>> backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
>>> sig = sign_bytes(backend, b"extract of the debt-collection register")
>>> verify(sig, document=b"extract of the debt-collection register", backend=backend).ok
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from jura_trust import _files
from jura_trust.backends.base import SigningService
from jura_trust.core.hashing import DEFAULT_ALGORITHM, DataHasher, HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationData, decode_publication_string
from jura_trust.core.signature import Signature
from jura_trust.core.tlv import MAX_INPUT_SIZE
from jura_trust.errors import ErrorCode, FormatError
from jura_trust.publications import VerifiedPublicationsFile
from jura_trust.trust import TrustConfig, Verifier
from jura_trust.verify import Policy, VerificationResult

__all__ = [
    "hash_file",
    "load_signature",
    "save_signature",
    "sign_bytes",
    "sign_files",
    "sign_imprint",
    "verify",
]


def hash_file(
    path: str | os.PathLike[str],
    algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
    *,
    progress: Callable[[int], None] | None = None,
) -> Imprint:
    """The imprint of a regular file's content, read in bounded memory.

    I/O errors are reported as :class:`FormatError` (FMT-19); a FIFO, a
    device or a directory is refused at once (FMT-20): hash a stream with
    :meth:`~jura_trust.core.hashing.DataHasher.update_stream` instead.
    """
    hasher = DataHasher(algorithm)
    try:
        with _files.open_regular(path) as f:
            hasher.update_stream(f, progress=progress)
    except OSError as exc:
        raise FormatError(
            f"cannot read {path!s}: {exc.strerror or exc}", code=ErrorCode.FMT_IO
        ) from None
    return hasher.imprint()


def load_signature(source: str | os.PathLike[str] | bytes) -> Signature:
    """Read a signature from a ``.ksig`` path or from its bytes.

    Unreadable input raises :class:`FormatError`.
    """
    if isinstance(source, bytes):
        return Signature.from_bytes(source)
    return Signature.from_bytes(_files.read_regular(source, limit=MAX_INPUT_SIZE))


def save_signature(signature: Signature, path: str | os.PathLike[str]) -> Path:
    """Write ``signature`` to ``path`` and return the path.

    Atomic and durable: a private temporary file in the same directory,
    ``fsync``, then a rename over ``path`` (a planted ``path.tmp`` or a
    symlink is never written through). Unwritable targets raise
    :class:`FormatError` (FMT-19).
    """
    target = Path(path)
    try:
        _files.write_atomic(target, signature.encode())
    except OSError as exc:
        raise FormatError(
            f"cannot write {target}: {exc.strerror or exc}", code=ErrorCode.FMT_IO
        ) from None
    return target


def sign_imprint(service: SigningService, imprint: Imprint, *, level: int = 0) -> Signature:
    """Sign an imprint you computed yourself."""
    return service.sign(imprint, level=level)


def sign_bytes(
    service: SigningService, data: bytes, *, algorithm: HashAlgorithm = DEFAULT_ALGORITHM
) -> Signature:
    """Hash ``data`` and sign its imprint."""
    return service.sign(Imprint.hash(data, algorithm))


def sign_files(
    service: SigningService,
    paths: Sequence[str | os.PathLike[str]],
    *,
    algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
    progress: Callable[[int], None] | None = None,
) -> list[Signature]:
    """Hash each file (in bounded memory) and sign them all in one round."""
    imprints = [hash_file(p, algorithm, progress=progress) for p in paths]
    return service.sign_many(imprints)


def verify(
    signature: Signature,
    *,
    document: bytes | None = None,
    document_hash: Imprint | None = None,
    policy: Policy | str = Policy.GENERAL,
    publications_file: VerifiedPublicationsFile | None = None,
    publication: PublicationData | str | None = None,
    backend: object | None = None,
    extending_allowed: bool | None = None,
    input_level: int = 0,
) -> VerificationResult:
    """Verify a signature, optionally against the document or its hash.

    Args:
        signature: the signature.
        document: the document's bytes (hashed with the signature's algorithm).
        document_hash: the document's imprint, instead of ``document``.
        policy: a :class:`~jura_trust.verify.Policy` or its name.
        publications_file: a publications file you trust
            (:meth:`~jura_trust.publications.PublicationsFile.trusted`).
        publication: a publication you trust, or its printed string.
        backend: an :class:`~jura_trust.backends.memory.EmbeddedBackend` (or
            anything with ``trusted_publications_file()`` and
            ``extend_calendar()``): its verified publications file is used
            when ``publications_file`` is not given, and it extends.
        extending_allowed: defaults to True when a backend is given.
        input_level: the level claimed for a local tree root.
    """
    if isinstance(publication, str):
        publication = decode_publication_string(publication)
    if backend is not None:
        trust = TrustConfig.from_backend(
            backend,  # type: ignore[arg-type]
            extending_allowed=True if extending_allowed is None else extending_allowed,
        )
        if publications_file is not None:
            trust = trust.evolve(publications_file=publications_file)
    else:
        trust = TrustConfig(
            publications_file=publications_file, extending_allowed=bool(extending_allowed)
        )
    if publication is not None:
        trust = trust.evolve(user_publication=publication)
    return Verifier(trust).verify(
        signature,
        document=document,
        document_hash=document_hash,
        policy=policy,
        input_level=input_level,
    )
