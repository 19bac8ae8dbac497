"""The parts a KSI signing service is assembled from (layer 9).

A KSI service is a pipeline of separable parts; :class:`EmbeddedBackend`
(:mod:`jura_trust.backends.memory`), ``jura-trust serve``, a child
aggregator and the PostgreSQL deployment are the same parts put together
differently:

* an **aggregator** turns requests into one hash tree per round
  (:class:`~jura_trust.backends.memory.PendingRound`; the one
  :class:`~jura_trust.backends.batcher.RoundBatcher` collects them);
* a :class:`Calendar` *anchors* a round root: it gives it a calendar second
  and returns the :class:`Anchor` every signature of the round shares. The
  local calendar (:class:`LocalCalendar`) appends the root to its
  :class:`~jura_trust.backends.stores.CalendarStore` and signs the head; a
  child aggregator's calendar (:mod:`jura_trust.backends.parent`) sends the
  root to a parent aggregator; a PostgreSQL process that does not hold the
  writer lease hands the root to the process that does
  (:mod:`jura_trust.backends.postgres`);
* an :class:`Extender` builds calendar chains from a store (it only reads,
  so it can run on a read replica);
* a :class:`Publications` part keeps the signed publications file;
* a :class:`KeyStore` holds the calendar and publisher keys.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import attrs

from jura_trust import _files, pki
from jura_trust.backends.base import Clock
from jura_trust.backends.stores import CalendarStore
from jura_trust.core import calendar as cal
from jura_trust.core import tlv
from jura_trust.core.chains import AggregationChain, CalendarChain
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import CalendarAuthRecord, SignatureData
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import shift_first_link_level
from jura_trust.publications import PublicationsFile

__all__ = [
    "CALENDAR_ROLE",
    "PUBLISHER_ROLE",
    "Anchor",
    "Calendar",
    "Extender",
    "FilePublications",
    "HomeKeyStore",
    "KeyStore",
    "LocalCalendar",
    "Publications",
    "StoreExtender",
    "relative_chain",
    "sign_calendar_head",
]

#: The key store role of the calendar signing key.
CALENDAR_ROLE: Final = "calendar"
#: The key store role of the publications-file signing key.
PUBLISHER_ROLE: Final = "publisher"
#: Validity of generated certificates, in years.
CERTIFICATE_YEARS: Final = 20
_YEAR = 365 * 24 * 3600
_PUBFILE = "publications.bin"


def _iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen(slots=True)
class Anchor:
    """Where a round root ended up: what every signature of the round shares.

    Attributes:
        aggregation_time: the calendar second of the round.
        upper: aggregation chains from the round root up to the calendar
            leaf, lowest first (empty when the root is the leaf itself; a
            child aggregator gets its parents' chains here).
        calendar_chain: from the calendar leaf to the calendar root.
        calendar_auth_record: the signed calendar head, if the calendar
            gave one.
    """

    aggregation_time: int
    upper: tuple[AggregationChain, ...]
    calendar_chain: CalendarChain
    calendar_auth_record: CalendarAuthRecord | None

    @property
    def chain_index_prefix(self) -> tuple[int, ...]:
        """The chain index the round's own chains continue (spec 4.3)."""
        return self.upper[0].chain_index if self.upper else ()


@runtime_checkable
class Calendar(Protocol):
    """Anchors round roots in a calendar, one second per round."""

    @property
    def local(self) -> bool:
        """Whether this process writes the calendar (and so honours an explicit second).

        True for the local calendar (a publication round may take a given
        second); False for a part that hands roots to someone else (a
        parent, the writer process).
        """
        ...

    def head(self) -> int | None:
        """The last second the calendar holds, or ``None`` when empty."""
        ...

    def first(self) -> int | None:
        """The first second holding a round, or ``None`` when empty."""
        ...

    def commit(self, root: Imprint, level: int, second: int | None = None) -> Anchor:
        """Anchor ``root`` (at tree level ``level``); durable before it returns.

        Raises :class:`~jura_trust.errors.BackendError` when the round could
        not be anchored: its requests then get an error, never a signature.
        """
        ...


@runtime_checkable
class Extender(Protocol):
    """Builds calendar chains; reads only."""

    def head(self) -> int | None:
        """The last second the calendar holds, or ``None`` when empty."""
        ...

    def first(self) -> int | None:
        """The first second holding a round, or ``None`` when empty."""
        ...

    def extend_calendar(self, aggregation_time: int, publication_time: int | None) -> CalendarChain:
        """A calendar chain from ``aggregation_time`` to ``publication_time`` (or the head)."""
        ...


@runtime_checkable
class Publications(Protocol):
    """The signed publications file and its records."""

    def refresh(self) -> None:
        """Read the file again if another process changed it."""
        ...

    @property
    def records(self) -> Sequence[PublicationRecord]:
        """The publications, oldest first."""
        ...

    @property
    def certificate_ids(self) -> frozenset[bytes]:
        """The ids of the calendar certificates the file holds."""
        ...

    @property
    def file_bytes(self) -> bytes:
        """The signed file as served to verifiers."""
        ...

    def commit(self, records: Sequence[PublicationRecord]) -> None:
        """Sign and store a file with ``records``; adopt it only once stored."""
        ...


@runtime_checkable
class KeyStore(Protocol):
    """Holds the service's signing keys (loaded, or created on first use)."""

    def signer(self, role: str, subject: Mapping[str, str]) -> pki.CalendarSigner:
        """The key and certificate of ``role``, created with ``subject`` if missing."""
        ...


def generate_signer(subject: Mapping[str, str], now: int) -> pki.CalendarSigner:
    """A new RSA key with a self-signed certificate valid from yesterday."""
    key = pki.generate_rsa_key()
    cert = pki.self_signed_certificate(
        key,
        dict(subject),
        not_before=now - 86_400,
        not_after=now + CERTIFICATE_YEARS * _YEAR,
        ca=False,
    )
    return pki.CalendarSigner(key, cert)


class HomeKeyStore:
    """Keys as PEM files in a home directory, or in memory (``home=None``).

    ``save`` writes a file atomically (``None``: never write, for read-only
    uses; a missing key is then generated in memory only).
    """

    _FILES: Final = {
        CALENDAR_ROLE: ("calendar-key.pem", "calendar-cert.pem"),
        PUBLISHER_ROLE: ("publisher-key.pem", "publisher-cert.pem"),
    }

    def __init__(
        self, home: Path | None, clock: Clock, save: Callable[[str, bytes, int], None] | None
    ) -> None:
        self.home = home
        self._clock = clock
        self._save = save

    def signer(self, role: str, subject: Mapping[str, str]) -> pki.CalendarSigner:
        """The key and certificate of ``role`` (see :class:`KeyStore`)."""
        key_name, cert_name = self._FILES[role]
        if self.home is not None:
            key_path, cert_path = self.home / key_name, self.home / cert_name
            if key_path.exists() and cert_path.exists():
                return pki.CalendarSigner.from_pem(key_path.read_bytes(), cert_path.read_bytes())
        signer = generate_signer(subject, int(self._clock.now()))
        if self.home is not None and self._save is not None:
            # The key first: a certificate on disk always has its key. A crash
            # between the two leaves a key without a certificate, which the
            # next first use replaces (nothing was signed with it yet).
            self._save(key_name, signer.private_key_pem(), _files.PRIVATE_MODE)
            self._save(cert_name, signer.certificate_pem(), _files.PUBLIC_MODE)
        return signer


def sign_calendar_head(signer: pki.CalendarSigner, chain: CalendarChain) -> CalendarAuthRecord:
    """The calendar authentication record of ``chain``'s root, signed by ``signer``.

    A signer failure (a key store or HSM) raises SVC-07: no signature
    leaves the round.
    """
    data = PublicationData.build(chain.publication_time, chain.root(), forward=True)
    try:
        sig_type, value = signer.sign(data.raw)
    except Exception as exc:
        raise BackendError(
            f"signing the calendar head at {_iso(chain.publication_time)} failed: {exc}; "
            "the round is not answered",
            code=ErrorCode.SVC_STORE,
        ) from exc
    return CalendarAuthRecord(
        published_data=data,
        signature_data=SignatureData(
            signature_type=sig_type,
            signature_value=value,
            certificate_id=signer.certificate_id,
        ),
    )


class LocalCalendar:
    """The calendar itself: appends round roots to a store and signs the head.

    A round takes the current second, or the next one when the current
    second already has a round (waiting on the clock).
    """

    local = True

    def __init__(self, store: CalendarStore, signer: pki.CalendarSigner, clock: Clock) -> None:
        self.store = store
        self.signer = signer
        self._clock = clock

    def head(self) -> int | None:
        """The last second the store holds."""
        return self.store.head()

    def first(self) -> int | None:
        """The first second the store holds."""
        return self.store.first()

    def next_second(self) -> int:
        """The second the next round takes (waits while the current one is taken)."""
        head = self.store.head()
        now = self._clock.now()
        second = int(now)
        if head is not None and second <= head:
            self._clock.sleep(head + 1 - now)
            second = max(int(self._clock.now()), head + 1)
        return second

    def commit(self, root: Imprint, level: int, second: int | None = None) -> Anchor:
        """Append ``root`` at ``second`` (default :meth:`next_second`) and sign the head."""
        if second is None:
            second = self.next_second()
        elif second > int(self._clock.now()):
            raise ValueError(f"second {second} is in the future")
        self.store.append(second, root)
        chain = cal.calendar_chain(self.store, second, second)
        return Anchor(second, (), chain, sign_calendar_head(self.signer, chain))


def check_extension(head: int | None, first: int | None, start: int, target: int | None) -> int:
    """The extension target; SVC-09 style errors for an impossible extension."""
    if head is None:
        raise BackendError("the calendar is empty", code=ErrorCode.SVC_EXTEND)
    end = head if target is None else target
    if end > head:
        raise BackendError(
            f"publication time {end} is after the calendar head {head}",
            code=ErrorCode.SVC_EXTEND,
        )
    if first is None or start < first or start > end:
        raise BackendError(f"cannot extend from {start} to {end}", code=ErrorCode.SVC_EXTEND)
    return end


class StoreExtender:
    """Calendar chains read from a store (any store; a replica's will do)."""

    def __init__(self, store: CalendarStore) -> None:
        self.store = store

    def head(self) -> int | None:
        """The last second the store holds."""
        return self.store.head()

    def first(self) -> int | None:
        """The first second the store holds."""
        return self.store.first()

    def extend_calendar(self, aggregation_time: int, publication_time: int | None) -> CalendarChain:
        """A calendar chain from ``aggregation_time`` to ``publication_time`` (or the head)."""
        target = check_extension(
            self.store.head(), self.store.first(), aggregation_time, publication_time
        )
        return cal.calendar_chain(self.store, aggregation_time, target)


def build_publications_file(
    records: Sequence[PublicationRecord],
    certificates: Mapping[bytes, pki.Certificate],
    publisher: pki.CalendarSigner,
    now: int,
) -> bytes:
    """A publications file with ``records`` and ``certificates``, signed by ``publisher``."""
    ordered = sorted(records, key=lambda p: p.publication_time)
    pubfile = PublicationsFile.build(
        creation_time=now, certificates=dict(certificates), publications=ordered
    )
    return pubfile.sign(publisher.private_key, publisher.certificate)


class FilePublications:
    """The publications file as ``publications.bin`` in a home, or in memory.

    Certificates of earlier calendar keys stay in the file, so signatures
    they signed keep verifying with the key-based policy. A failed write
    leaves the part serving the previous file.
    """

    def __init__(
        self,
        home: Path | None,
        publisher: pki.CalendarSigner,
        calendar_signer: pki.CalendarSigner,
        clock: Clock,
        save: Callable[[str, bytes, int], None] | None,
    ) -> None:
        self.home = home
        self._publisher = publisher
        self._calendar_signer = calendar_signer
        self._clock = clock
        self._save = save
        self._records: list[PublicationRecord] = []
        self._certificates: dict[bytes, pki.Certificate] = {}
        self._bytes: bytes | None = None
        self._stamp: tuple[int, int, int] | None = None

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self.home is not None
        try:
            st = (self.home / _PUBFILE).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def refresh(self) -> None:
        """Read ``publications.bin`` again if it changed since the last read."""
        if self.home is None:
            return
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return
        data = (self.home / _PUBFILE).read_bytes()
        parsed = PublicationsFile.parse(data)
        self._records = list(parsed.publications)
        self._certificates = {r.certificate_id: r.certificate for r in parsed.certificates}
        self._bytes = data
        self._stamp = stamp

    @property
    def records(self) -> Sequence[PublicationRecord]:
        """The publications, oldest first."""
        return self._records

    @property
    def certificate_ids(self) -> frozenset[bytes]:
        """The ids of the calendar certificates in the file."""
        return frozenset(self._certificates)

    @property
    def file_bytes(self) -> bytes:
        """The signed file."""
        assert self._bytes is not None
        return self._bytes

    def commit(self, records: Sequence[PublicationRecord]) -> None:
        """Sign and write the file; only then adopt it in memory."""
        certs = dict(self._certificates)
        certs[self._calendar_signer.certificate_id] = self._calendar_signer.certificate
        data = build_publications_file(records, certs, self._publisher, int(self._clock.now()))
        if self.home is not None and self._save is not None:
            self._save(_PUBFILE, data, _files.PUBLIC_MODE)
            self._stamp = self._file_stamp()
        self._certificates = certs
        self._records = sorted(records, key=lambda p: p.publication_time)
        self._bytes = data


def relative_chain(chain: AggregationChain, level: int) -> AggregationChain:
    """``chain`` with its first link's level correction counted from ``level``.

    A tree gives absolute corrections (from level 0); a chain stacked on a
    lower chain whose output is at ``level`` carries the rest only.
    """
    if level == 0:
        return chain
    raw = shift_first_link_level(tlv.decode(chain.encode()), -level)
    return AggregationChain.from_tlv(tlv.decode(raw))
