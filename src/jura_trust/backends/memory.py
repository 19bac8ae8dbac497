"""The embedded backend: aggregator, calendar, signer and publisher in process.

:class:`EmbeddedBackend` is a complete KSI signing service that runs inside
the caller's process:

* the **aggregator** builds one hash tree per round, each request a leaf
  with the client's identity as metadata (the signature's issuer);
* the **calendar** appends the round root as the leaf of the round's second
  (one leaf per second since 1970, filler for the rest);
* the **calendar signer** signs the calendar head: a calendar
  authentication record, so a fresh signature verifies at once with the
  key-based policy;
* the **publisher** publishes calendar roots into a signed publications
  file, after which signatures extend to a publication and verify with hash
  functions alone.

State lives in memory (for test suites) or in a directory (``home``): the
calendar in SQLite, keys and certificates as PEM, the publications file as
``publications.bin``. Time comes from an injectable :class:`Clock`.

Rounds: :meth:`EmbeddedBackend.sign_many` runs one round for one caller. A
server collecting requests from many clients uses the round API:
:meth:`EmbeddedBackend.open_round` gives a :class:`PendingRound` that takes
:class:`RoundRequest` values (imprint, level, the requesting login) as they
arrive, and :meth:`EmbeddedBackend.close_round` turns it into an
:class:`AggregationRound` (one tree, one calendar second, one calendar
authentication record). :meth:`EmbeddedBackend.aggregate` does both at once.

The backend is assembled from parts (:mod:`jura_trust.backends.parts`):
by default a local calendar over the store, an extender reading it, the
publications file and the keys of the home; given other
:class:`BackendParts` the same class is a process of the PostgreSQL
deployment (:mod:`jura_trust.backends.postgres`) or a child aggregator
(:mod:`jura_trust.backends.parent`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs

from jura_trust import _files, pki
from jura_trust.backends.base import Clock, SystemClock
from jura_trust.backends.batcher import RoundBatcher
from jura_trust.backends.home import HomeLock, StateLock, lock_for_writer
from jura_trust.backends.parts import (
    CALENDAR_ROLE,
    PUBLISHER_ROLE,
    Calendar,
    Extender,
    FilePublications,
    HomeKeyStore,
    LocalCalendar,
    Publications,
    StoreExtender,
)
from jura_trust.backends.stores import CalendarStore, MemoryCalendarStore, SQLiteCalendarStore
from jura_trust.core import tlv
from jura_trust.core.chains import (
    AGGREGATION_CHAIN_TYPE,
    AggregationChain,
    CalendarChain,
    Metadata,
)
from jura_trust.core.hashing import DEFAULT_ALGORITHM, HashAlgorithm, Imprint
from jura_trust.core.publication import (
    PublicationData,
    PublicationRecord,
    encode_publication_string,
)
from jura_trust.core.signature import CalendarAuthRecord, Signature
from jura_trust.core.tree import Tree, TreeBuilder
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.verify import check_extended_chain

__all__ = [
    "DEFAULT_CLIENT_ID",
    "MAX_REQUEST_LEVEL",
    "PUBLISHER_EMAIL",
    "AggregationRound",
    "BackendParts",
    "EmbeddedBackend",
    "PendingRound",
    "RoundReceipt",
    "RoundRequest",
    "WriteFile",
]

#: How the backend writes a file of its home: ``(path, data, mode)``, atomic
#: and durable before it returns (default :func:`jura_trust._files.write_atomic`).
WriteFile = Callable[[Path, bytes, int], object]

#: The login recorded as issuer when none is given.
DEFAULT_CLIENT_ID = "jura-trust"
#: The e-mail in the embedded publisher's certificate (the default constraint).
PUBLISHER_EMAIL = "publications@jura-trust.invalid"
_PUB_CERT = "publisher-cert.pem"
_CALENDAR_DB = "calendar.sqlite"
#: The highest request level the embedded aggregator accepts (a leaf with
#: metadata sits one level above its request, and the tree adds more).
MAX_REQUEST_LEVEL = 0xFF - 2


@attrs.frozen(slots=True)
class RoundReceipt:
    """What one aggregation round produced."""

    aggregation_time: int
    root: Imprint
    signatures: tuple[Signature, ...]


@attrs.frozen(slots=True)
class RoundRequest:
    """One request of an aggregation round.

    Attributes:
        imprint: the document imprint, or the root of the client's local tree.
        level: the height of ``imprint`` in the client's local tree (0 for a
            document hash); the signature's first link gets a level
            correction of at least this much.
        client_id: the login that asked, recorded as the issuer in the
            leaf's metadata; ``None`` means the backend's own ``client_id``.
    """

    imprint: Imprint
    level: int = 0
    client_id: str | None = None


class PendingRound:
    """An open aggregation round: requests are added until it is closed.

    Get one from :meth:`EmbeddedBackend.open_round`, :meth:`add` requests
    (each becomes a tree leaf with its metadata at once, so closing the
    round only joins the tree), then hand it to
    :meth:`EmbeddedBackend.close_round`. One thread adds; after closing,
    the round refuses further requests. A mutable collector, not a value.
    """

    __slots__ = ("_backend", "_builder", "_closed", "_requests")

    def __init__(self, backend: EmbeddedBackend) -> None:
        self._backend = backend
        self._builder = TreeBuilder(backend.algorithm)
        self._requests: list[RoundRequest] = []
        self._closed = False

    def __len__(self) -> int:
        return len(self._requests)

    @property
    def closed(self) -> bool:
        """True once the round was handed to :meth:`EmbeddedBackend.close_round`."""
        return self._closed

    def add(self, request: RoundRequest) -> int:
        """Add a request; return its leaf index in the round.

        Raises :class:`TypeError`/:class:`ValueError` for a malformed
        request (level out of range) and
        :class:`~jura_trust.errors.BackendError` SVC-05 for an imprint
        whose algorithm is deprecated now.
        """
        if self._closed:
            raise ValueError("the round is closed")
        if not isinstance(request, RoundRequest):
            raise TypeError("request must be a RoundRequest")
        backend = self._backend
        backend._check_request(request.imprint, request.level)
        client_id = request.client_id if request.client_id is not None else backend.client_id
        meta = _metadata_builder(client_id)(
            next(backend._sequence), int(backend.clock.now() * 1_000_000)
        )
        index = self._builder.add_leaf(request.imprint, level=request.level, metadata=meta)
        self._requests.append(request)
        return index

    def _close(self) -> tuple[Tree, tuple[RoundRequest, ...]]:
        if self._closed:
            raise ValueError("the round is already closed")
        if not self._requests:
            raise ValueError("cannot close an empty round")
        self._closed = True
        return self._builder.build(), tuple(self._requests)


@attrs.frozen(slots=True, eq=False)
class AggregationRound:
    """A closed round: its calendar second, root, calendar chain and auth record.

    Every request's signature shares the calendar chain (from the round's
    second to itself), the calendar authentication record and the ``upper``
    aggregation chains (from the round root to the calendar leaf, when the
    round was anchored through a parent aggregator or the writer process);
    only the request's own aggregation chain differs. :meth:`signature` builds one signature;
    :meth:`encoded_aggregation_chains` gives every leaf's chain as bytes in
    one pass, for servers that answer thousands of requests per round.
    """

    aggregation_time: int
    root: Imprint
    calendar_chain: CalendarChain
    calendar_auth_record: CalendarAuthRecord | None
    requests: tuple[RoundRequest, ...]
    _tree: Tree = attrs.field(repr=False, alias="tree")
    upper: tuple[AggregationChain, ...] = ()

    def __len__(self) -> int:
        return len(self.requests)

    def aggregation_chain(self, index: int) -> AggregationChain:
        """The aggregation chain of request ``index`` (this round's tree only)."""
        prefix = self.upper[0].chain_index if self.upper else ()
        return self._tree.chain(index, self.aggregation_time, prefix)

    def signature(self, index: int) -> Signature:
        """The complete signature of request ``index`` (key-based verifiable)."""
        return Signature.build(
            [self.aggregation_chain(index), *self.upper],
            self.calendar_chain,
            calendar_auth_record=self.calendar_auth_record,
        )

    @property
    def signatures(self) -> tuple[Signature, ...]:
        """Every request's signature, in request order."""
        return tuple(self.signature(i) for i in range(len(self.requests)))

    def encoded_aggregation_chains(self) -> list[bytes]:
        """Every request's aggregation chain element (0x801), in request order.

        Byte-identical to ``aggregation_chain(i).encode()``, computed from
        the tree's encoded paths without building link objects. The
        ``upper`` chains and the calendar parts follow in a signature
        (:meth:`shared_elements`).
        """
        return list(self.iter_encoded_aggregation_chains())

    def iter_encoded_aggregation_chains(self) -> Iterator[bytes]:
        """:meth:`encoded_aggregation_chains` as a stream, in request order.

        Consumes :meth:`Tree.iter_encoded_links` and the shape indices of
        every leaf, computed in one pass (:meth:`Tree.shape_indices`): the
        tree is walked once, not once per leaf.
        """
        tree = self._tree
        head = tlv.encode(0x02, tlv.encode_uint(self.aggregation_time))
        if self.upper:
            head += b"".join(
                tlv.encode(0x03, tlv.encode_uint(i)) for i in self.upper[0].chain_index
            )
        alg = tlv.encode(0x06, tlv.encode_uint(tree.algorithm.value))
        fixed = len(head) + len(alg) + 2  # + the input hash's TLV8 header
        index_elements: dict[int, bytes] = {}
        input_headers: dict[int, bytes] = {}
        join = b"".join
        for request, shape, links in zip(
            self.requests, tree.shape_indices(), tree.iter_encoded_links(), strict=True
        ):
            index = index_elements.get(shape)
            if index is None:
                index = index_elements[shape] = tlv.encode(0x03, tlv.encode_uint(shape))
            imprint = request.imprint.value
            input_header = input_headers.get(len(imprint))
            if input_header is None:
                input_header = input_headers[len(imprint)] = bytes((0x05, len(imprint)))
            n = fixed + len(index) + len(imprint) + len(links)
            if _TLV8_MAX < n <= _TLV16_MAX:
                # One join for the whole element: TLV16 header, then the body.
                size = n.to_bytes(2, "big")
                yield join((_CHAIN_HEADER, size, head, index, input_header, imprint, alg, links))
            else:
                body = join((head, index, input_header, imprint, alg, links))
                yield tlv.encode(AGGREGATION_CHAIN_TYPE, body)

    def shared_elements(self) -> bytes:
        """The elements every signature of the round shares, encoded, in signature order.

        The ``upper`` aggregation chains, the calendar chain and the
        calendar authentication record (when there is one).
        """
        parts = [c.encode() for c in self.upper]
        parts.append(self.calendar_chain.encode())
        if self.calendar_auth_record is not None:
            parts.append(self.calendar_auth_record.encode())
        return b"".join(parts)


_TLV8_MAX = tlv.MAX_TLV8_LENGTH
_TLV16_MAX = tlv.MAX_TLV16_LENGTH
#: The first two header bytes of a TLV16 aggregation chain element.
_CHAIN_HEADER = tlv.encode(AGGREGATION_CHAIN_TYPE, bytes(_TLV8_MAX + 1))[:2]


@functools.lru_cache(maxsize=4096)
def _metadata_builder(client_id: str) -> Callable[[int | None, int | None], Metadata]:
    """The metadata maker of a login, made once per login (not per request)."""
    return Metadata.builder(client_id)


@attrs.frozen(slots=True, kw_only=True)
class BackendParts:
    """The parts an :class:`EmbeddedBackend` is assembled from (:mod:`jura_trust.backends.parts`).

    Attributes:
        calendar: anchors round roots (the local calendar, a parent
            aggregator, or the PostgreSQL writer).
        extender: builds calendar chains (may read a replica).
        publications: the signed publications file.
        publisher_certificate: the publications-file signer's certificate
            (the trust anchor), if known.
        calendar_certificate: the certificate of the key that signs
            calendar heads, or ``None`` when this process signs none (a
            child aggregator); a new one is added to the publications file.
        closers: closed in order by :meth:`EmbeddedBackend.close` (stores,
            connections).
        exclusive_rounds: hold the backend's lock (and the home's
            ``state.lock``) while a round is anchored, serialising it with
            extensions and publications of this backend (the local
            calendar); ``False`` for a calendar that synchronises itself
            and may wait on others (a parent, the writer process), so that
            extending never waits for it.
    """

    calendar: Calendar
    extender: Extender
    publications: Publications
    publisher_certificate: pki.Certificate | None
    calendar_certificate: pki.Certificate | None
    closers: tuple[Callable[[], object], ...] = ()
    exclusive_rounds: bool = True


class EmbeddedBackend:
    """An in-process KSI signing service.

    Args:
        home: a state directory (created if missing), or ``None`` to keep
            everything in memory.
        clock: the time source; tests pass a
            :class:`~jura_trust.backends.base.ManualClock`.
        client_id: the login recorded in every signature's metadata.
        algorithm: the aggregation hash algorithm.
        round_ms: concurrent :meth:`sign` calls always share rounds (calls
            arriving while a round closes go into the next one); when set,
            the first caller also waits this many milliseconds for others.
        calendar_signer: the calendar key and certificate; generated (and,
            with ``home``, saved) on first use when not given.
        publisher_email: the e-mail in the publisher certificate, the
            subject constraint verifiers check.
        publisher: the publications-file signing key and certificate (its
            subject must hold ``publisher_email``); generated (and, with
            ``home``, saved) on first use when not given.
        store: the calendar store; by default SQLite in ``home``, or memory.
        create: with ``False``, refuse (SVC-08) a ``home`` that holds no
            state yet instead of creating keys there, and never write to
            the home: for read-only uses such as verification.
        home_lock: the home's ``service.lock`` held exclusively by the
            caller (a service); without it a backend that writes a home
            holds that lock shared for its lifetime, so it is refused
            (SVC-11) while a service runs on the home
            (:mod:`jura_trust.backends.home`).
        write_file: how files of the home are written (keys, certificates,
            ``publications.bin``): atomically and durably; the default is
            :func:`jura_trust._files.write_atomic`. A hook for fault
            injection in tests.
        parts: assemble the backend from these parts instead (a PostgreSQL
            deployment, a child aggregator); ``calendar_signer``,
            ``publisher`` and ``store`` are then not used.

    The backend is an assembly of parts (:mod:`jura_trust.backends.parts`):
    a tree aggregator (:class:`PendingRound`), a calendar, an extender, the
    publications file and a key store, with the one
    :class:`~jura_trust.backends.batcher.RoundBatcher` for ``round_ms``.

    Several processes may write one home: key creation on first use,
    every round and every publication run under the home's ``state.lock``,
    so the keys are created once and concurrent rounds take consecutive
    seconds.

    >>> from jura_trust.backends.base import ManualClock
    >>> backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    >>> sig = backend.sign(Imprint.hash(b"hello"))
    >>> sig.aggregation_time
    1700000000
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
        round_ms: int | None = None,
        calendar_signer: pki.CalendarSigner | None = None,
        publisher_email: str = PUBLISHER_EMAIL,
        publisher: pki.CalendarSigner | None = None,
        store: CalendarStore | None = None,
        create: bool = True,
        home_lock: HomeLock | None = None,
        write_file: WriteFile | None = None,
        parts: BackendParts | None = None,
    ) -> None:
        if not algorithm.trusted:
            raise ValueError(f"{algorithm} is not allowed for new signatures")
        if round_ms is not None and round_ms < 0:
            raise ValueError("round_ms must not be negative")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.client_id = client_id
        self.algorithm = algorithm
        self.round_ms = round_ms
        self.publisher_email = publisher_email
        self.home = Path(home) if home is not None else None
        self._lock = threading.RLock()
        self._sequence = itertools.count(1)
        self._batcher: RoundBatcher[AggregationRound] = RoundBatcher(
            self.open_round,
            lambda pending: self.close_round(pending),  # noqa: PLW0108 - late-bound: tests replace close_round
        )
        #: One round closes at a time (group commit: the next round collects
        #: the calls that arrive meanwhile).
        self._closing = threading.Lock()
        self._writable = create or self.home is None
        self._write_file: WriteFile = write_file or _files.write_atomic
        self._home_lock: HomeLock | None = None
        self._state_lock: StateLock | None = None
        if self.home is not None:
            if not create and not (self.home / _PUB_CERT).is_file():
                raise BackendError(
                    f"no jura-trust state in {self.home} (nothing was signed there yet)",
                    code=ErrorCode.SVC_CONFIG,
                    home=str(self.home),
                )
            self.home.mkdir(parents=True, exist_ok=True)
            if self._writable:
                self._home_lock = home_lock if home_lock is not None else lock_for_writer(self.home)
                self._state_lock = StateLock(self.home)
        try:
            with self._state():
                self.parts = parts or self._local_parts(store, calendar_signer, publisher)
                self._adopt_certificate()
        except BaseException:
            self._release_home()
            raise

    def _local_parts(
        self,
        store: CalendarStore | None,
        calendar_signer: pki.CalendarSigner | None,
        publisher: pki.CalendarSigner | None,
    ) -> BackendParts:
        # Under the state lock: a first use of a home creates the keys and the
        # publications file exactly once, whatever other processes do.
        if store is None:
            if self.home is not None:
                store = SQLiteCalendarStore(self.home / _CALENDAR_DB)
            else:
                store = MemoryCalendarStore()
        save = self._save if self.home is not None and self._writable else None
        keys = HomeKeyStore(self.home, self.clock, save)
        calendar_signer = calendar_signer or keys.signer(
            CALENDAR_ROLE, {"O": "jura_trust", "CN": "calendar"}
        )
        publisher = publisher or keys.signer(
            PUBLISHER_ROLE, {"O": "jura_trust", "CN": "publisher", "E": self.publisher_email}
        )
        publications = FilePublications(self.home, publisher, calendar_signer, self.clock, save)
        return BackendParts(
            calendar=LocalCalendar(store, calendar_signer, self.clock),
            extender=StoreExtender(store),
            publications=publications,
            publisher_certificate=publisher.certificate,
            calendar_certificate=calendar_signer.certificate,
            closers=(store.close,),
        )

    def _adopt_certificate(self) -> None:
        # a new home, or a new calendar key: publish its certificate beside
        # the old ones
        certificate = self.parts.calendar_certificate
        if certificate is None:
            return
        publications = self.parts.publications
        cert_id = pki.certificate_id(certificate)
        for attempt in range(3):
            publications.refresh()
            if cert_id in publications.certificate_ids:
                return
            try:
                publications.commit(publications.records)
                return
            except BackendError:
                # a shared file another process changed meanwhile: read it again
                if attempt == 2:
                    raise

    @contextlib.contextmanager
    def _state(self) -> Iterator[None]:
        """Hold the thread lock and, for a home, its ``state.lock``."""
        with self._lock:
            if self._state_lock is None:
                yield
            else:
                with self._state_lock.held():
                    yield

    def _release_home(self) -> None:
        if self._state_lock is not None:
            self._state_lock.close()
            self._state_lock = None
        if self._home_lock is not None:
            self._home_lock.release()
            self._home_lock = None

    def _save(self, name: str, data: bytes, mode: int = _files.PUBLIC_MODE) -> None:
        assert self.home is not None
        try:
            self._write_file(self.home / name, data, mode)
        except OSError as exc:
            raise BackendError(
                f"cannot write {self.home / name}: {exc.strerror or exc}",
                code=ErrorCode.SVC_STORE,
            ) from None

    # -- trust material --------------------------------------------------------------

    @property
    def calendar(self) -> Calendar:
        """The calendar part rounds are anchored in."""
        return self.parts.calendar

    @property
    def calendar_certificate(self) -> object:
        """The calendar key's certificate (a cryptography ``Certificate``)."""
        return self.parts.calendar_certificate

    @property
    def publisher_certificate(self) -> object:
        """The publications-file signer's certificate: the trust anchor."""
        return self.parts.publisher_certificate

    @property
    def publications_file_bytes(self) -> bytes:
        """The signed publications file, as served to verifiers."""
        return self.parts.publications.file_bytes

    def publications_file(self) -> PublicationsFile:
        """The publications file, parsed (the caller still decides to trust it)."""
        return PublicationsFile.parse(self.publications_file_bytes)

    def trusted_publications_file(self, at: int | None = None) -> VerifiedPublicationsFile:
        """The publications file, verified against this backend's publisher certificate."""
        anchor = self.parts.publisher_certificate
        if anchor is None:
            raise BackendError(
                "no publications-file signer configured for this backend",
                code=ErrorCode.SVC_CONFIG,
            )
        return self.publications_file().trusted(
            trust_anchors=[anchor],
            constraints={"E": self.publisher_email},
            at_time=int(self.clock.now()) if at is None else at,
        )

    # -- signing ----------------------------------------------------------------------

    def sign(self, imprint: Imprint, *, level: int = 0) -> Signature:
        """Sign one imprint; concurrent calls share a round.

        A calendar second holds one round, so signing one imprint per round
        would let concurrent signers (threads of a web server) wait a second
        each. Requests join the open round of the shared
        :class:`~jura_trust.backends.batcher.RoundBatcher`; the call that
        opens a round closes it, one round at a time, so calls that arrive
        while a round is being closed are all signed in the next round
        (group commit): ten concurrent calls cost about two rounds, not ten.
        With ``round_ms`` set, the opening call also waits that long for
        others before closing the round.
        """
        ticket, index, opened = self._batcher.add(RoundRequest(imprint, level))
        if opened:
            if self.round_ms:
                self.clock.sleep(self.round_ms / 1000.0)
            with self._closing:  # the round before this one may still be closing
                taken = self._batcher.take()
                if taken is not None:
                    # a failed round settles its ticket with the error, which
                    # every waiter (this call included) re-raises below
                    with contextlib.suppress(Exception):
                        self._batcher.close(taken)
        return ticket.result().signature(index)

    def sign_many(self, imprints: Sequence[Imprint], *, level: int = 0) -> list[Signature]:
        """Sign every imprint in one round (one tree, one calendar second)."""
        if not imprints:
            return []
        return list(self.aggregate([RoundRequest(i, level) for i in imprints]).signatures)

    def sign_round(self, imprints: Sequence[Imprint], *, level: int = 0) -> RoundReceipt:
        """Like :meth:`sign_many`, also returning the round's time and root."""
        rnd = self.aggregate([RoundRequest(i, level) for i in imprints])
        return RoundReceipt(rnd.aggregation_time, rnd.root, rnd.signatures)

    def open_round(self) -> PendingRound:
        """A new, empty round to :meth:`~PendingRound.add` requests to."""
        return PendingRound(self)

    def close_round(self, pending: PendingRound, *, second: int | None = None) -> AggregationRound:
        """Close ``pending``: build its tree and anchor its root in the calendar.

        With the local calendar the round takes the calendar second
        ``second``, by default the current second, or the next one when the
        current second already has a round (this waits on the clock). An
        explicit ``second`` must be after the calendar head and not in the
        future (and needs a calendar this process writes). Returns once the
        round is durable in the calendar.
        """
        if not isinstance(pending, PendingRound) or pending._backend is not self:
            raise ValueError("the round belongs to another backend")
        self._check_writable()
        calendar = self.parts.calendar
        if second is not None:
            if not calendar.local:
                raise ValueError("this backend's calendar is not written by this process")
            if second > int(self.clock.now()):
                raise ValueError(f"second {second} is in the future")
        with self._state() if self.parts.exclusive_rounds else contextlib.nullcontext():
            tree, requests = pending._close()
            anchor = calendar.commit(tree.root, tree.root_level, second)
            return AggregationRound(
                aggregation_time=anchor.aggregation_time,
                root=tree.root,
                calendar_chain=anchor.calendar_chain,
                calendar_auth_record=anchor.calendar_auth_record,
                requests=requests,
                tree=tree,
                upper=anchor.upper,
            )

    def aggregate(
        self, requests: Sequence[RoundRequest], *, second: int | None = None
    ) -> AggregationRound:
        """Run one round over ``requests`` (one tree, one calendar second).

        Each request's login goes into its leaf's metadata and its level is
        honoured. Validates every request before anything is stored.
        """
        pending = self.open_round()
        for request in requests:
            pending.add(request)
        return self.close_round(pending, second=second)

    def _check_request(self, imprint: Imprint, level: int) -> None:
        if not isinstance(imprint, Imprint):
            raise TypeError("imprint must be an Imprint")
        if not isinstance(level, int) or isinstance(level, bool):
            raise TypeError("level must be an int")
        if not 0 <= level <= MAX_REQUEST_LEVEL:
            raise ValueError("request level out of range")
        alg = imprint.algorithm
        if alg.is_deprecated_at(int(self.clock.now())):
            raise BackendError(
                f"{alg} is deprecated: refusing to sign with it",
                code=ErrorCode.SVC_REFUSED,
            )

    # -- calendar, extending, publishing ----------------------------------------------

    @property
    def calendar_head(self) -> int | None:
        """The last second the calendar holds, or ``None`` when empty."""
        return self.parts.extender.head()

    @property
    def calendar_first(self) -> int | None:
        """The first second holding a round, or ``None`` when empty."""
        return self.parts.extender.first()

    def extend_calendar(
        self, aggregation_time: int, publication_time: int | None = None
    ) -> CalendarChain:
        """A calendar chain from ``aggregation_time`` to ``publication_time`` (or the head)."""
        with self._lock:
            return self.parts.extender.extend_calendar(aggregation_time, publication_time)

    @property
    def _publications(self) -> Sequence[PublicationRecord]:
        return self.parts.publications.records

    def find_publication(self, publication_time: int) -> PublicationRecord | None:
        """The publication at exactly ``publication_time``."""
        for rec in self._publications:
            if rec.publication_time == publication_time:
                return rec
        return None

    def nearest_publication(self, at_or_after: int) -> PublicationRecord | None:
        """The earliest publication at or after ``at_or_after``."""
        candidates = [p for p in self._publications if p.publication_time >= at_or_after]
        return min(candidates, key=lambda p: p.publication_time) if candidates else None

    def latest_publication(self) -> PublicationRecord | None:
        """The most recent publication."""
        return max(self._publications, key=lambda p: p.publication_time, default=None)

    def refresh_publications(self) -> None:
        """Read the publications file again if another process changed it."""
        with self._lock:
            self.parts.publications.refresh()

    def extend(self, signature: Signature, publication_time: int | None = None) -> Signature:
        """Extend ``signature`` to a publication.

        Without ``publication_time`` the nearest publication at or after the
        signing time is used (SVC-09 if there is none yet). A time that is
        not a publication extends to that calendar second and records the
        calendar root there (verifiable with a publication string for it).
        """
        self.refresh_publications()  # another process may have published
        if publication_time is None:
            target = self.nearest_publication(signature.aggregation_time)
            if target is None:
                raise BackendError(
                    "no publication at or after the signing time yet",
                    code=ErrorCode.SVC_NO_PUBLICATION,
                )
            publication_time = target.publication_time
        chain = self.extend_calendar(signature.aggregation_time, publication_time)
        record = self.find_publication(publication_time)
        if record is None:
            record = PublicationRecord.build(PublicationData.build(publication_time, chain.root()))
        elif record.tlv_type != 0x803:
            record = record.with_type(0x803)
        problem = check_extended_chain(
            chain,
            signing_time=signature.aggregation_chains[0].aggregation_time,
            aggregation_root=signature.aggregation_root(),
            publication=record.published_data,
        )
        if problem is not None:
            raise BackendError(
                f"the signature is not in this calendar: {problem}", code=ErrorCode.SVC_EXTEND
            )
        return signature.extended(chain, record)

    def publish(self, publication_time: int | None = None) -> PublicationRecord:
        """Publish the calendar root at ``publication_time`` (default: the head).

        Appends the publication to the publications file and re-signs it.
        Publications only move forward (SVC-05 for a second before the latest
        publication or before the calendar's first round); publishing an
        existing publication's second returns it.
        """
        self._check_writable()
        with self._state():
            self.parts.publications.refresh()  # another process may have published
            extender = self.parts.extender
            head = extender.head()
            if head is None:
                raise BackendError(
                    "nothing to publish: the calendar is empty", code=ErrorCode.SVC_NO_PUBLICATION
                )
            t = head if publication_time is None else publication_time
            if t > head:
                raise BackendError(
                    "cannot publish a second after the calendar head",
                    code=ErrorCode.SVC_NO_PUBLICATION,
                )
            existing = self.find_publication(t)
            if existing is not None:
                return existing
            latest = self.latest_publication()
            if latest is not None and t < latest.publication_time:
                raise BackendError(
                    f"publications only move forward: {_iso(t)} is before the latest "
                    f"publication {_iso(latest.publication_time)}",
                    code=ErrorCode.SVC_REFUSED,
                )
            first = extender.first()
            if first is not None and t < first:
                raise BackendError(
                    f"{_iso(t)} is before the calendar's first round", code=ErrorCode.SVC_REFUSED
                )
            root = extender.extend_calendar(t, t).root()
            record = PublicationRecord.build(
                PublicationData.build(t, root),
                references=(f"jura_trust publication {_iso(t)}",),
                tlv_type=0x703,
            )
            self.parts.publications.commit([*self._publications, record])
            return record

    def publication_string(self, record: PublicationRecord | None = None) -> str:
        """The printable publication string of ``record`` (default: the latest)."""
        rec = record or self.latest_publication()
        if rec is None:
            raise BackendError("no publication yet", code=ErrorCode.SVC_NO_PUBLICATION)
        return encode_publication_string(rec.published_data)

    def close(self) -> None:
        """Release the calendar store and the home's locks."""
        try:
            for closer in self.parts.closers:
                closer()
        finally:
            self._release_home()

    def _check_writable(self) -> None:
        if not self._writable:
            raise BackendError(
                f"{self.home} was opened read-only (create=False): cannot sign or publish",
                code=ErrorCode.SVC_REFUSED,
            )

    def __enter__(self) -> EmbeddedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
