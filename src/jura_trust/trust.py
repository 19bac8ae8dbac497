"""What is trusted, assembled once, and the verifier that uses it (layer 8).

One :class:`TrustConfig` says everything a verification may rest on:

* a publications file, checked against trust anchors and subject
  constraints (or trusted explicitly, with a reason);
* a publication string the user trusts (from a newspaper or the bulletin);
* an extender (a live KSI service, a recorded response, an embedded
  backend) and whether extending is allowed. An extender is never trusted:
  every chain it returns is checked by the rules;
* the time at which certificates and trust lists must be valid;
* for JT1 certificates, a verified trust list (its root keys checked).

It is built once, from files (:meth:`TrustConfig.from_files`), from an
embedded backend or anything offering its trust material
(:meth:`TrustConfig.from_backend`), or by hand, and the Python API, the
``verify``, ``extend`` and ``qr verify`` commands all use it. Nothing is
trusted implicitly: an empty configuration trusts nothing, and a result
built on it says so (NA, or the internal policy's "consistent, not
anchored").

:class:`Verifier` owns the caches (verified publications files, JT1 seal
verdicts); there is no module-level mutable cache anywhere in verification.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from jura_trust._value import Value, _init, evolve
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationData, decode_publication_string
from jura_trust.core.signature import Signature
from jura_trust.errors import CertificateError, ErrorCode, PKIError
from jura_trust.verify import Extender, Policy, VerificationResult, verify_signature

if TYPE_CHECKING:
    from jura_trust import pki
    from jura_trust.certificates.registry import SealRegistry
    from jura_trust.certificates.trustlist import RevocationList, TrustList
    from jura_trust.publications import VerifiedPublicationsFile

__all__ = ["TrustConfig", "TrustSource", "Verifier"]


class TrustSource(Protocol):
    """What a backend offers to build a :class:`TrustConfig` from.

    :class:`~jura_trust.backends.memory.EmbeddedBackend` and the
    ``ksi_http`` client both fit.
    """

    def trusted_publications_file(self, at: int | None = None) -> VerifiedPublicationsFile:
        """The backend's publications file, verified with its own trust settings."""
        ...

    def extend_calendar(
        self, aggregation_time: int, publication_time: int | None = None
    ) -> Any:  # a CalendarChain
        """A calendar chain from ``aggregation_time`` to ``publication_time``."""
        ...


def _is_verified_publications_file(value: object) -> None:
    # An isinstance check, with the class imported on first use: a configuration
    # without a publications file (``verify --policy internal``) never loads it.
    from jura_trust.publications import VerifiedPublicationsFile  # noqa: PLC0415

    if not isinstance(value, VerifiedPublicationsFile):
        raise TypeError(
            f"'publications_file' must be {VerifiedPublicationsFile!r} "
            f"(got {value!r} that is a {value.__class__!r})"
        )


class TrustConfig(Value):
    """Everything a verification may rest on; see the module docstring.

    Attributes:
        publications_file: a publications file, already verified (its CMS
            signature, signer path and constraints) or trusted explicitly.
        user_publication: a publication the user trusts.
        extender: how to extend a signature, or ``None``.
        extender_name: how results name the extender (e.g. its URL).
        extending_allowed: whether the policies may extend.
        at: when certificates must be valid (Unix seconds; ``None``: now).
        trust_list: a verified JT1 trust list (its root keys checked).
        revocations: a verified JT1 revocation list.
        seals: where compact JT1 certificates' seal records are found.
        dcc_signers: document signer certificates trusted for EU DCCs.
        sources: what was configured, in words, for messages and reports.

    Configurations compare and hash by the publications file, the user's
    publication, the extender's name, ``extending_allowed``, ``at`` and
    ``sources``; the extender, trust list, revocations, seals and DCC
    signers take no part.
    """

    __slots__ = (
        "at",
        "dcc_signers",
        "extender",
        "extender_name",
        "extending_allowed",
        "publications_file",
        "revocations",
        "seals",
        "sources",
        "trust_list",
        "user_publication",
    )
    _fields = (
        "publications_file",
        "user_publication",
        "extender",
        "extender_name",
        "extending_allowed",
        "at",
        "trust_list",
        "revocations",
        "seals",
        "dcc_signers",
        "sources",
    )
    #: What configurations compare and hash by: what is trusted, not the objects
    #: that extend or hold certificate trust (those compare by identity, if at all).
    _compare = (
        "publications_file",
        "user_publication",
        "extender_name",
        "extending_allowed",
        "at",
        "sources",
    )

    publications_file: VerifiedPublicationsFile | None
    user_publication: PublicationData | None
    extender: Extender | None
    extender_name: str
    extending_allowed: bool
    at: int | None
    trust_list: TrustList | None
    revocations: RevocationList | None
    seals: SealRegistry | None
    dcc_signers: tuple[pki.Certificate, ...]
    sources: tuple[str, ...]

    def __init__(  # noqa: PLR0917 - the positional signature the attrs class had
        self,
        publications_file: VerifiedPublicationsFile | None = None,
        user_publication: PublicationData | None = None,
        extender: Extender | None = None,
        extender_name: str = "the extender",
        extending_allowed: bool = False,
        at: int | None = None,
        trust_list: TrustList | None = None,
        revocations: RevocationList | None = None,
        seals: SealRegistry | None = None,
        dcc_signers: tuple[pki.Certificate, ...] = (),
        sources: tuple[str, ...] = (),
    ) -> None:
        if publications_file is not None:
            _is_verified_publications_file(publications_file)
        _init(self, "publications_file", publications_file)
        _init(self, "user_publication", user_publication)
        _init(self, "extender", extender)
        _init(self, "extender_name", extender_name)
        _init(self, "extending_allowed", extending_allowed)
        _init(self, "at", at)
        _init(self, "trust_list", trust_list)
        _init(self, "revocations", revocations)
        _init(self, "seals", seals)
        _init(self, "dcc_signers", dcc_signers)
        _init(self, "sources", sources)

    # -- builders -------------------------------------------------------------------------

    @classmethod
    def from_files(
        cls,
        *,
        publications_file: bytes | None = None,
        trust_anchors: Iterable[pki.Certificate] = (),
        cert_constraints: Mapping[str, str] | None = None,
        publication_string: str | None = None,
        extender: Extender | None = None,
        extender_name: str = "the extender",
        extending_allowed: bool = False,
        at: int | None = None,
        allow_sha1: bool = False,
    ) -> TrustConfig:
        """Build a configuration from what a user hands in.

        A publications file needs ``trust_anchors`` and ``cert_constraints``
        (PKI-01 names the missing one, with the flag that sets it); anchors
        or constraints without a file are a :class:`ValueError`.
        ``allow_sha1`` accepts a file whose CMS signature uses SHA-1 after
        2016-07-01 (an explicit, named opt-in; docs/verification.md).
        """
        anchors = list(trust_anchors)
        constraints = dict(cert_constraints or {})
        sources: list[str] = []
        pubfile = None
        if publications_file is not None:
            if not anchors:
                raise PKIError(
                    "a publications file is trusted only against a trust anchor: "
                    "give --trust-anchor PEM (the certificate of the file's signer's root)",
                    code=ErrorCode.PKI_NOT_CONFIGURED,
                )
            if not constraints:
                raise PKIError(
                    "a publications file is trusted only for a named signer: "
                    "give --cert-constraint OID=VALUE (e.g. E=publications@example.org)",
                    code=ErrorCode.PKI_NOT_CONFIGURED,
                )
            from jura_trust.publications import PublicationsFile  # noqa: PLC0415

            parsed = PublicationsFile.parse(publications_file)
            pubfile = parsed.trusted(
                trust_anchors=anchors, constraints=constraints, at_time=at, allow_sha1=allow_sha1
            )
            sources.append("a publications file checked against the given trust anchors")
        elif anchors or constraints:
            raise ValueError(
                "--trust-anchor and --cert-constraint configure the trust of a publications "
                "file: give --publications-file or --publications-url"
            )
        user = None
        if publication_string is not None:
            user = decode_publication_string(publication_string)
            sources.append("a publication string given by the user")
        if extender is not None:
            sources.append(f"extending through {extender_name}")
        return cls(
            publications_file=pubfile,
            user_publication=user,
            extender=extender,
            extender_name=extender_name,
            extending_allowed=extending_allowed,
            at=at,
            sources=tuple(sources),
        )

    @classmethod
    def from_backend(
        cls,
        backend: TrustSource,
        *,
        at: int | None = None,
        extending_allowed: bool = True,
        name: str = "the embedded backend",
    ) -> TrustConfig:
        """The trust of a backend: its verified publications file, and it extends."""
        return cls(
            publications_file=backend.trusted_publications_file(at),
            extender=backend.extend_calendar,
            extender_name=name,
            extending_allowed=extending_allowed,
            at=at,
            sources=(f"the publications file of {name}", f"extending through {name}"),
        )

    def evolve(self, **changes: Any) -> TrustConfig:
        """A copy with ``changes`` (e.g. a user publication added), checked again."""
        return evolve(self, **changes)

    def describe(self) -> str:
        """What is configured, in one line."""
        return "; ".join(self.sources) if self.sources else "nothing is trusted"


class Verifier:
    """Verifies signatures (and, through the certificate module, QR codes) under one trust.

    It owns the caches that verification may keep; make one per trust
    configuration and reuse it (it is safe to share between threads: the
    caches hold only immutable verdicts).
    """

    def __init__(self, trust: TrustConfig | None = None) -> None:
        self.trust = trust if trust is not None else TrustConfig()
        self._caches: dict[str, Any] = {}

    def cache(self, name: str, factory: Callable[[], Any]) -> Any:
        """The verifier's cache ``name``, made by ``factory`` on first use."""
        found = self._caches.get(name)
        if found is None:
            found = self._caches.setdefault(name, factory())
        return found

    def verify(
        self,
        signature: Signature | bytes,
        *,
        document: bytes | None = None,
        document_hash: Imprint | None = None,
        policy: Policy | str = Policy.GENERAL,
        input_level: int = 0,
    ) -> VerificationResult:
        """Verify ``signature``, parsed or its bytes (against the document or its hash).

        Bytes that do not parse raise :class:`~jura_trust.errors.FormatError`;
        given bytes, the common signatures are checked in one pass
        (:func:`~jura_trust.verify.verify_signature`).
        """
        if document is not None and document_hash is not None:
            if not isinstance(signature, Signature):
                Signature.from_bytes(bytes(signature))  # as for the parsed signature: FMT first
            raise ValueError("give document or document_hash, not both")
        if document is not None:
            if not isinstance(signature, Signature):
                signature = Signature.from_bytes(bytes(signature))
            document_hash = Imprint.hash(document, signature.document_hash.algorithm)
        t = self.trust
        return verify_signature(
            signature,
            policy=policy,
            document_hash=document_hash,
            input_level=input_level,
            publications_file=t.publications_file,
            user_publication=t.user_publication,
            extending_allowed=t.extending_allowed,
            extender=t.extender,
            extender_name=t.extender_name,
        )

    def verify_many(
        self, items: Sequence[tuple[Signature | bytes, Imprint | None]], *, policy: Policy | str
    ) -> list[VerificationResult]:
        """Verify several signatures, parsed or bytes (each with its document hash or ``None``)."""
        return [self.verify(sig, document_hash=h, policy=policy) for sig, h in items]

    def _at(self, at: datetime.datetime | None) -> datetime.datetime:
        if at is not None:
            return at
        if self.trust.at is not None:
            return datetime.datetime.fromtimestamp(self.trust.at, datetime.UTC)
        return datetime.datetime.now(datetime.UTC)

    def verify_certificate(
        self,
        text: str,
        *,
        at: datetime.datetime | None = None,
        seals: SealRegistry | None = None,
        revocations: RevocationList | None = None,
    ) -> VerificationResult:
        """Verify a JT1 certificate under this trust (its trust list, seals, KSI trust).

        The seal's KSI signature is checked against the configuration's
        publications file (and its extender, when extending is allowed);
        seal checks that passed are cached in this verifier. ``seals`` and
        ``revocations`` override the configuration's; ``at`` is the
        validation time (default: the configuration's, else now).

        Raises:
            CertificateError: ``CRT-21`` when no trust list is configured
                (naming the settings that give one), and what
                :func:`~jura_trust.certificates.jt1.verify_certificate`
                raises for text that cannot be read.
        """
        t = self.trust
        if t.trust_list is None:
            raise CertificateError(
                "JT1 verification needs a verified trust list: give --trust-list FILE "
                "and --trust-root PEM (TrustConfig.trust_list)",
                code=ErrorCode.CRT_TRUST_NOT_CONFIGURED,
            )
        from jura_trust.certificates.jt1 import SealCache, verify_certificate  # noqa: PLC0415

        return verify_certificate(
            text,
            trust_list=t.trust_list,
            at=self._at(at),
            seals=seals if seals is not None else t.seals,
            revocations=revocations if revocations is not None else t.revocations,
            publications_file=t.publications_file,
            extender=t.extender if t.extending_allowed else None,
            seal_cache=self.cache("jt1-seals", SealCache),
        )

    def verify_dcc(self, text: str, *, at: datetime.datetime | None = None) -> VerificationResult:
        """Verify an EU DCC (``HC1:``) against this trust's document signer certificates."""
        from jura_trust.certificates.dcc import verify_dcc  # noqa: PLC0415

        return verify_dcc(text, self.trust.dcc_signers, at=self._at(at))
