"""The local KSI service over HTTP: aggregator, extender, publications file (layer 10).

Routes:

* ``POST /aggregator``: aggregation request PDUs (v2) -> response PDUs;
* ``POST /extender``: extend request PDUs -> response PDUs;
* ``GET /publications.bin``: the signed publications file;
* ``GET /publisher.pem``: the certificate that signs it (``jura-trust trust pin``);
* ``GET /health``: JSON status; ``GET /metrics``: Prometheus text;
* ``GET /`` and ``/api/v1/...``: the residents' verification page and its
  JSON API (:mod:`~jura_trust.service.page`; ``[page] enabled = false``
  turns them off).

A request body holds one or more PDUs back to back; the response body holds
the answers in the same order (a PDU whose answers do not fit one 64 KiB
PDU is answered with several). Every PDU is authenticated on its own: an
unknown login or a wrong HMAC gets a *reduced* error PDU (status 0x102, no
header, no HMAC) and no signature; unreadable input gets a reduced error
PDU with status 0x101 and HTTP 400; a body over the size limit gets status
0x104 (aggregator) or 0x101 (extender) and HTTP 413, unread. Every other
answer is HTTP 200 with PDUs authenticated under the login's key, with the
HMAC algorithm the client used.

No route takes a path or writes a file: the only writes are the calendar
store's appends and the publications file, both by the service itself.
The calendar and publisher keys stay in this process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import signal
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import attrs
from aiohttp import web

from jura_trust import pki
from jura_trust.backends.home import HomeLock, check_home, check_secret_file, lock_for_service
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.backends.stores import SQLiteCalendarStore
from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm
from jura_trust.errors import BackendError, ErrorCode, JuraError
from jura_trust.pdu import (
    AGGREGATION_REQUEST_PDU_TYPE,
    AGGREGATION_RESPONSE_PDU_TYPE,
    EXTEND_REQUEST_PDU_TYPE,
    EXTEND_RESPONSE_PDU_TYPE,
    AggregationAck,
    AggregationRequest,
    AggregationRequestPDU,
    AggregationResponse,
    AggregatorConfig,
    AggregatorStatus,
    ErrorPayload,
    ExtenderConfig,
    ExtenderStatus,
    ExtendRequest,
    ExtendRequestPDU,
    ExtendResponse,
    Header,
    encode_error_pdu,
    parse_pdus,
    shift_first_link_level,
)
from jura_trust.service._wire import (
    WRITE_SLICE,
    iter_responses,
    iter_sealed,
    request_head,
    success_parts,
    success_payload,
    write_slices,
)
from jura_trust.service.auth import Gate, Refusal
from jura_trust.service.config import Login, ServiceConfig
from jura_trust.service.deploy import calendar_gauges, open_parts
from jura_trust.service.metrics import Metrics
from jura_trust.service.page import ResidentPage
from jura_trust.service.publisher import Publisher
from jura_trust.service.rounds import ClosedRound, RoundLoop
from jura_trust.service.tcp import TcpListener

__all__ = [
    "ENDPOINTS",
    "RESPONSE_CONTENT_TYPE",
    "Answer",
    "Endpoint",
    "Service",
    "open_backend",
    "serve",
]

#: Content type of PDU answers (as KSI gateways send).
RESPONSE_CONTENT_TYPE: Final = "application/ksi-response"
#: Most bytes of answers sealed ahead per round (on the writer thread, right
#: after the round is durable); the answers beyond are made as they are
#: written, PDU by PDU, as before. About 45,000 signatures of 1.5 KB.
SEALED_BYTES_PER_ROUND: Final = 64 << 20
_log = logging.getLogger("jura_trust.service")


#: What the ``Server`` header says (no framework or version).
SERVER_HEADER: Final = "jura-trust"


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER


def _peek_login(body: bytes | bytearray) -> str:
    """The login id the first PDU's header claims (unchecked; ``""`` if unreadable).

    Only used to queue the body's admission fairly; authentication comes later.
    """
    try:
        _, first = next(tlv.iter_sequence(bytes(body[: 4 + 0xFFFF])))
        header = first.children()[0]
        if header.type != 0x01:
            return ""
        for child in header.children():
            if child.type == 0x01:
                return child.value.decode("utf-8", "replace").rstrip("\x00")[:64]
    except (JuraError, StopIteration, IndexError, ValueError):
        pass
    return ""


def _read_signer(
    key: Path, cert: Path, what: str, *, allow_unsafe: bool = False
) -> pki.CalendarSigner:
    for problem in check_secret_file(key, f"{what} key", allow_unsafe=allow_unsafe):
        _log.warning("UNSAFE (accepted with --allow-unsafe-home): %s", problem)
    try:
        return pki.CalendarSigner.from_pem(key.read_bytes(), cert.read_bytes())
    except OSError as exc:
        raise BackendError(
            f"service config: cannot read the {what} key or certificate: {exc}",
            code=ErrorCode.SVC_CONFIG,
        ) from None
    except (JuraError, ValueError) as exc:
        raise BackendError(
            f"service config: unusable {what} key or certificate: {exc}",
            code=ErrorCode.SVC_CONFIG,
        ) from None


def open_backend(config: ServiceConfig, *, home_lock: HomeLock | None = None) -> EmbeddedBackend:
    """The embedded backend the service runs on: keys, calendar store, publications.

    ``home_lock`` is the home's lock the service holds exclusively
    (:func:`~jura_trust.backends.home.lock_for_service`).
    """
    calendar_signer = publisher = None
    if config.calendar_key is not None and config.calendar_certificate is not None:
        calendar_signer = _read_signer(
            config.calendar_key,
            config.calendar_certificate,
            "calendar",
            allow_unsafe=config.allow_unsafe_home,
        )
    if config.publisher_key is not None and config.publisher_certificate is not None:
        publisher = _read_signer(
            config.publisher_key,
            config.publisher_certificate,
            "publisher",
            allow_unsafe=config.allow_unsafe_home,
        )
        try:
            pki.check_subject_constraints(publisher.certificate, {"E": config.publisher_email})
        except JuraError as exc:
            raise BackendError(
                f"service config: the publisher certificate does not hold the e-mail "
                f"{config.publisher_email!r}: {exc.message}",
                code=ErrorCode.SVC_CONFIG,
            ) from None
    config.home.mkdir(parents=True, exist_ok=True)
    parts = open_parts(config, calendar_signer, publisher)
    if parts is not None:
        try:
            return EmbeddedBackend(
                config.home,
                parts=parts,
                publisher_email=config.publisher_email,
                home_lock=home_lock,
            )
        except BaseException:
            for close in parts.closers:
                with contextlib.suppress(Exception):
                    close()
            raise
    store = SQLiteCalendarStore(config.calendar_store_path)
    try:
        return EmbeddedBackend(
            config.home,
            calendar_signer=calendar_signer,
            publisher=publisher,
            publisher_email=config.publisher_email,
            store=store,
            home_lock=home_lock,
        )
    except BaseException:
        store.close()
        raise


class _RefusedError(Exception):
    """A whole body refused before any PDU was read."""

    def __init__(self, http_status: int, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message


@attrs.frozen(slots=True)
class Endpoint:
    """A PDU endpoint: what it takes and how it answers.

    Attributes:
        name: ``aggregator`` or ``extender`` (the HTTP route and metrics label).
        request_type: the request PDU type it accepts.
        response_type: the response PDU type it answers with.
        too_large: the status of a refusal for a body over the size limit.
        too_many: the status of a refusal for a rate or capacity limit.
    """

    name: str
    request_type: int
    response_type: int
    too_large: int
    too_many: int


#: The two PDU endpoints, by name.
ENDPOINTS: Final = {
    "aggregator": Endpoint(
        "aggregator",
        AGGREGATION_REQUEST_PDU_TYPE,
        AGGREGATION_RESPONSE_PDU_TYPE,
        AggregatorStatus.REQUEST_TOO_LARGE,
        AggregatorStatus.TOO_MANY_REQUESTS,
    ),
    "extender": Endpoint(
        "extender",
        EXTEND_REQUEST_PDU_TYPE,
        EXTEND_RESPONSE_PDU_TYPE,
        ExtenderStatus.INVALID_REQUEST,
        # the extender's status table has no quota code
        ExtenderStatus.INVALID_REQUEST,
    ),
}


@attrs.define(slots=True)
class _Slot:
    """One aggregation request payload on its way to an answer."""

    request_id: int
    level: int = 0
    future: asyncio.Future[ClosedRound] | None = None
    index: int = -1
    head: bytes = b""
    payload: bytes = b""
    chain: bytes = b""
    shared: bytes = b""


@attrs.define(slots=True, eq=False)
class _Plan:
    """The answer to one request PDU, produced when it is written.

    ``admitted`` answers are counted in flight for ``login`` until
    :meth:`Answer.discard` or the answer's PDUs are all taken. ``sealed``
    holds the answer's PDUs when they were made on the writer thread as
    soon as the round was decided (``sealed_ok`` of its payloads are
    signatures; ``made`` is set once the writer tried); ``received`` and
    ``ended_at`` (the end of the round) are for the answer-latency metrics.
    """

    reduced: bytes | None = None
    response_type: int = 0
    login: Login | None = None
    header: Header | None = None
    algorithm: HashAlgorithm | None = None
    slots: list[_Slot] = attrs.Factory(list)
    extends: Sequence[ExtendRequest] = ()
    extend_config: bool = False
    trailer: list[bytes] = attrs.Factory(list)
    admitted: int = 0
    received: float = 0.0
    ended_at: float = 0.0
    sealed: list[bytes] | None = None
    sealed_ok: int = 0
    made: asyncio.Future[None] | None = None


class Answer:
    """The answer to one body of request PDUs, for any transport.

    Its PDUs are produced one at a time as the transport writes them
    (:meth:`pdus`), so an answer of any size never sits whole in memory.

    Attributes:
        status: 200, or the HTTP status of a refusal (400 unreadable or
            wrong PDU type, 408 too slow, 413 too large).
    """

    __slots__ = ("_made", "_plans", "_service", "status")

    def __init__(self, service: Service, status: int, plans: list[_Plan]) -> None:
        self.status = status
        self._service = service
        self._plans = plans
        self._made: bytes | None = None

    @property
    def close(self) -> bool:
        """Whether the connection should be closed after this answer."""
        return self.status not in (200, 400)

    async def pdus(self) -> AsyncIterator[bytes]:
        """The response PDUs in order; each request PDU's answers are released once taken."""
        try:
            if self._made is not None:  # taken whole by made(): the same bytes
                yield self._made
                self.written()
                return
            ended_at = received = 0.0
            for plan in self._plans:
                async for pdu in self._service._produce(plan):
                    yield pdu
                if plan.ended_at:
                    ended_at, received = plan.ended_at, plan.received
                self._service._release(plan)
            if ended_at:
                # every PDU handed to the transport (an aggregation answer)
                now = time.time()
                self._service.metrics.answered(now - received, now - ended_at)
        finally:
            self.discard()

    def made(self) -> bytes | None:
        """All response PDUs at once when every one is already made, else ``None``.

        An aggregation answer sealed when its round closed (and a refusal)
        is made; the transport then writes it in one go and calls
        :meth:`written`. Otherwise it takes the PDUs from :meth:`pdus`.

        The sealed PDUs are moved into the joined bytes (the plans keep an
        empty list), so a client that reads slowly holds one copy of its
        answer, not two.
        """
        if self._made is not None:
            return self._made
        if any(plan.reduced is None and plan.sealed is None for plan in self._plans):
            return None
        self._made = b"".join(
            [pdu for plan in self._plans for pdu in plan.sealed or (plan.reduced or b"",)]
        )
        for plan in self._plans:
            if plan.sealed:
                plan.sealed = []
        return self._made

    def written(self) -> None:
        """The bytes from :meth:`made` were handed to the transport: count them, release."""
        ended_at = received = 0.0
        for plan in self._plans:
            if plan.sealed is not None:
                self._service.metrics.payload("aggregator", 0, plan.sealed_ok)
            if plan.ended_at:
                ended_at, received = plan.ended_at, plan.received
        if ended_at:
            now = time.time()
            self._service.metrics.answered(now - received, now - ended_at)
        self.discard()

    async def body(self) -> bytes:
        """All response PDUs at once (for small answers and tests)."""
        return b"".join([pdu async for pdu in self.pdus()])

    def discard(self) -> None:
        """Release the answers not written (the client is gone); idempotent."""
        for plan in self._plans:
            self._service._release(plan)
        self._plans = []
        self._made = None


class _Turns:
    """A lock granted round-robin between logins: fair queuing on the event loop.

    Work units (admitting one body, producing one response PDU) take a turn,
    so a login with many connections gets no more turns than one with a
    single connection while both wait.
    """

    def __init__(self) -> None:
        self._busy = False
        self._queues: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._ring: collections.deque[str] = collections.deque()

    @contextlib.asynccontextmanager
    async def turn(self, who: str) -> AsyncIterator[None]:
        """Hold the lock for the ``async with`` block, after the waiting logins before ``who``."""
        if self._busy:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue = self._queues.get(who)
            if queue is None:
                queue = self._queues[who] = collections.deque()
                self._ring.append(who)
            queue.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # granted and cancelled at once: pass it on
                else:
                    self._forget(who, future)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _forget(self, who: str, future: asyncio.Future[None]) -> None:
        queue = self._queues.get(who)
        if queue is None:
            return
        with contextlib.suppress(ValueError):
            queue.remove(future)
        if not queue:
            del self._queues[who]
            with contextlib.suppress(ValueError):
                self._ring.remove(who)

    def _release(self) -> None:
        while self._ring:
            who = self._ring.popleft()
            queue = self._queues[who]
            future = queue.popleft()
            if queue:
                self._ring.append(who)
            else:
                del self._queues[who]
            if not future.done():
                future.set_result(None)
                return
        self._busy = False


class _ByteBudget:
    """Bytes of request bodies held at once; readers wait for room, first come first served."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def take(self, n: int) -> None:
        """Wait until ``n`` more bytes fit, then hold them."""
        if not self._waiters and self.used + n <= self.capacity:
            self.used += n
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, future)
        self._waiters.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give(n)
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                self._wake()
            raise

    def give(self, n: int) -> None:
        """Return ``n`` bytes."""
        self.used -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.capacity:
            n, future = self._waiters.popleft()
            if not future.done():
                self.used += n
                future.set_result(None)


def _us(t: float) -> int:
    return int(t * 1_000_000)


class Service:
    """The local KSI service: holds the backend, the round loop and the publisher.

    Build the aiohttp application with :meth:`app`; :func:`serve` runs it.
    Must be created inside a running event loop.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        backend: EmbeddedBackend | None = None,
        announce: Callable[[str], None] = print,
    ) -> None:
        config.check_ready()
        self.config = config
        self._home_lock: HomeLock | None = None
        if backend is None:
            for problem in check_home(config.home, allow_unsafe=config.allow_unsafe_home):
                _log.warning("UNSAFE (accepted with --allow-unsafe-home): %s", problem)
            self._home_lock = lock_for_service(config.home)
            try:
                backend = open_backend(config, home_lock=self._home_lock)
            except BaseException:
                self._home_lock.release()
                raise
        self.backend = backend
        self.metrics = Metrics()
        self.gate = Gate(
            config.logins,
            total_rate=config.total_rate,
            total_burst=config.total_burst,
            total_in_flight=config.total_in_flight,
            replay_window=config.replay_window,
            replay_capacity=config.replay_capacity,
            require_message_ids=config.require_message_ids,
        )
        self._turns = _Turns()
        #: The round whose answers are being sealed ahead and the bytes sealed
        #: for it so far (writer thread only). A weak reference, not ``id()``:
        #: a new round may take the address of a freed one, and inherit its count.
        self._sealing: tuple[weakref.ref[ClosedRound] | None, int] = (None, 0)
        self._login_names = frozenset(login.name for login in config.logins)
        self._reading = _ByteBudget(config.max_reading_bytes)
        #: Open client connections (HTTP and TCP).
        self.connections = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="jura-trust-round")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="jura-trust-extend")
        self.rounds = RoundLoop(
            self.backend, round_ms=config.round_ms, writer=self._writer, metrics=self.metrics
        )
        self.publisher = Publisher(self.rounds, config.schedule, self.metrics, announce=announce)
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics.gauges.update(
            {
                "calendar_head": lambda: self.backend.calendar_head,
                "calendar_first": lambda: self.backend.calendar_first,
                "pending_requests": lambda: self.rounds.pending,
                "round_ms": lambda: self.config.round_ms,
                "answers_in_flight": lambda: self.gate.in_flight_total,
                "connections": lambda: self.connections,
                "reading_bytes": lambda: self._reading.used,
                **calendar_gauges(self.backend.calendar),
            }
        )

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Start the round loop and the publisher."""
        self._tasks = [
            asyncio.create_task(self.rounds.run(), name="jura-trust-rounds"),
            asyncio.create_task(self.publisher.run(), name="jura-trust-publisher"),
        ]

    def drain(self) -> None:
        """Close open rounds at once (shutting down)."""
        self.rounds.drain()

    async def stop(self) -> None:
        """Stop the loops, wait for the writer thread, close the store."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.backend.close()
        if self._home_lock is not None:
            self._home_lock.release()
            self._home_lock = None

    def connection_opened(self) -> bool:
        """Count a new client connection; False when it is over ``max_connections``.

        Every call is matched by :meth:`connection_closed`, accepted or not.
        """
        self.connections += 1
        return self.connections <= self.config.max_connections

    def connection_closed(self) -> None:
        """A connection counted by :meth:`connection_opened` is gone."""
        self.connections -= 1

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=self.config.max_request_bytes)
        app.router.add_post("/aggregator", self._aggregator)
        app.router.add_post("/extender", self._extender)
        app.router.add_get("/publications.bin", self._publications)
        app.router.add_get("/publisher.pem", self._publisher_certificate)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.on_response_prepare.append(_server_header)
        if self.config.page.enabled:
            ResidentPage(
                self.backend, self.config.page, body_timeout=self.config.body_timeout
            ).install(app)
        return app

    # -- transport-independent request handling ------------------------------------

    async def answer(
        self,
        endpoint: Endpoint,
        body: bytes | bytearray,
        received: float,
        admitted: Callable[[], None] | None = None,
    ) -> Answer:
        """Answer a body of request PDUs for ``endpoint``, whatever the transport.

        The HTTP routes and the TCP listener both call this with the bytes
        they read (an HTTP body; one PDU from a TCP stream). Unreadable
        input, or any PDU that is not ``endpoint``'s request type, refuses
        the whole body (status 400, a reduced error PDU with 0x101);
        otherwise every PDU is authenticated and admitted (status 200):
        aggregation requests join the open round, and this returns once the
        round is closed. The response PDUs are produced as the transport
        takes them from :meth:`Answer.pdus`. ``body`` is not used once the
        PDUs are admitted; ``admitted`` is called then (before waiting for
        the round), so the caller can free it.
        """
        started = time.perf_counter()
        try:
            plans = await self._admit_body(endpoint, body, received)
        except _RefusedError as refusal:
            return self.refusal(endpoint, refusal.http_status, refusal.status, refusal.message)
        finally:
            del body
            if admitted is not None:
                admitted()
        try:
            if endpoint.name == "aggregator":
                await self._await_rounds(plans)
        except BaseException:
            for plan in plans:
                self._release(plan)
            raise
        self.metrics.request(endpoint.name, "ok", time.perf_counter() - started)
        return Answer(self, 200, plans)

    def refusal(self, endpoint: Endpoint, http_status: int, status: int, message: str) -> Answer:
        """A whole body refused: a reduced error PDU (no header, no HMAC)."""
        self.metrics.request(endpoint.name, f"http_{http_status}", 0.0)
        self.metrics.payload(endpoint.name, status)
        reduced = encode_error_pdu(endpoint.response_type, ErrorPayload(status, message))
        return Answer(self, http_status, [_Plan(reduced=reduced)])

    async def _admit_body(
        self, endpoint: Endpoint, body: bytes | bytearray, received: float
    ) -> list[_Plan]:
        # One turn per body: the body is parsed and admitted without awaiting,
        # so all its requests join the same round; logins take turns.
        who = _peek_login(body)
        await self.rounds.admissions()
        async with self._turns.turn(who if who in self._login_names else ""):
            try:
                pdus = parse_pdus(bytes(body))
            except JuraError as exc:
                raise _RefusedError(400, 0x101, f"unreadable request: {exc.message}") from None
            for pdu in pdus:
                if endpoint.request_type != pdu.TYPE:
                    raise _RefusedError(
                        400,
                        0x101,
                        f"the {endpoint.name} takes 0x{endpoint.request_type:x} PDUs, "
                        f"not 0x{pdu.TYPE:x}",
                    )
            plans: list[_Plan] = []
            for pdu in pdus:
                assert isinstance(pdu, AggregationRequestPDU | ExtendRequestPDU)
                plans.append(self._admit(endpoint, pdu, received))
            return plans

    def _admit(
        self, endpoint: Endpoint, pdu: AggregationRequestPDU | ExtendRequestPDU, received: float
    ) -> _Plan:
        login = self._authenticate(pdu)
        if login is None:
            return _Plan(
                reduced=self._reduced(
                    endpoint.response_type,
                    0x102,  # authentication failure, for both endpoints
                    "authentication failed",
                    endpoint.name,
                )
            )
        assert pdu.hmac is not None
        plan = _Plan(
            response_type=endpoint.response_type,
            login=login,
            header=Header(login.name, pdu.header.instance_id, pdu.header.message_id),
            algorithm=pdu.hmac.algorithm,
            received=received,
        )
        refused = self.gate.admit(login, pdu.header, len(pdu.requests))
        if refused is not None:
            status = endpoint.too_many
            if refused in (Refusal.REPLAY, Refusal.NO_IDS):
                status = 0x101  # an invalid request, for both endpoints
            self.metrics.payload(endpoint.name, status)
            self.metrics.refusal(refused.name.lower())
            plan.trailer.append(ErrorPayload(status, refused.value).encode())
            return plan
        plan.admitted = max(1, len(pdu.requests))
        if isinstance(pdu, AggregationRequestPDU):
            plan.slots = self._aggregation_slots(pdu, login)
            if pdu.config_request:
                plan.trailer.append(self._aggregator_config(login).encode())
            if pdu.ack_request is not None:
                plan.trailer.append(self._ack(pdu.ack_request, received).encode())
            if any(slot.future is not None for slot in plan.slots):
                # sealed on the writer thread as soon as the round is decided
                plan.made = self.rounds.when_closed(functools.partial(self._seal, plan))
        else:
            plan.extends = pdu.requests
            plan.extend_config = pdu.config_request
        return plan

    def _release(self, plan: _Plan) -> None:
        if plan.admitted and plan.login is not None:
            self.gate.done(plan.login, plan.admitted)
        plan.admitted = 0
        plan.slots = []
        plan.extends = ()
        plan.sealed = None

    async def _produce(self, plan: _Plan) -> AsyncIterator[bytes]:
        """The response PDUs of one request PDU, each made in its login's turn."""
        if plan.reduced is not None:
            yield plan.reduced
            return
        assert plan.login is not None
        assert plan.header is not None
        assert plan.algorithm is not None
        login = plan.login
        if plan.sealed is not None:
            self.metrics.payload("aggregator", 0, plan.sealed_ok)
            for made in plan.sealed:
                yield made
            return
        payloads: Iterable[bytes]
        if plan.extends or plan.extend_config:
            payloads = await asyncio.get_running_loop().run_in_executor(
                self._readers, self._extend_all, plan.extends
            )
            if plan.extend_config:
                plan.trailer.append(self._extender_config(login).encode())
        else:
            payloads = (self._slot_payload(slot) for slot in plan.slots)
        sealed = iter_responses(
            plan.response_type,
            plan.header,
            payloads,
            trailer=plan.trailer,
            key=login.key,
            algorithm=plan.algorithm,
        )
        while True:
            async with self._turns.turn(login.name):
                pdu = next(sealed, None)
            if pdu is None:
                return
            yield pdu

    # -- HTTP ------------------------------------------------------------------------

    async def _read_body(self, request: web.Request, endpoint: Endpoint) -> bytearray:
        """The body, its bytes held in the reading budget (the caller gives them back)."""
        limit = self.config.max_request_bytes
        too_large = endpoint.too_large
        if request.content_length is not None and request.content_length > limit:
            raise _RefusedError(413, too_large, f"the request body exceeds {limit} bytes")
        body = bytearray()
        try:
            async with asyncio.timeout(self.config.body_timeout):
                async for chunk in request.content.iter_any():
                    if len(body) + len(chunk) > limit:
                        raise _RefusedError(
                            413, too_large, f"the request body exceeds {limit} bytes"
                        )
                    await self._reading.take(len(chunk))
                    body += chunk
        except TimeoutError:
            self._reading.give(len(body))
            raise _RefusedError(408, 0x101, "the request body did not arrive in time") from None
        except BaseException:
            self._reading.give(len(body))
            raise
        return body

    async def _http(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        received = time.time()
        try:
            body = await self._read_body(request, endpoint)
        except _RefusedError as refusal:
            answer = self.refusal(endpoint, refusal.http_status, refusal.status, refusal.message)
        else:
            held = len(body)

            def admitted() -> None:
                nonlocal held
                body.clear()
                self._reading.give(held)
                held = 0

            try:
                answer = await self.answer(endpoint, body, received, admitted)
            finally:
                admitted()
        made = answer.made()
        resp = (
            # headers and body handed to the transport at once (aiohttp sends
            # a Response's headers with its body): one segment, one wake-up
            web.Response(status=answer.status, body=made)
            if made is not None and len(made) <= WRITE_SLICE
            else web.StreamResponse(status=answer.status)
        )
        resp.content_type = RESPONSE_CONTENT_TYPE
        if answer.close:
            resp.force_close()
        try:
            async with asyncio.timeout(self.config.write_timeout):
                if isinstance(resp, web.Response):
                    await resp.prepare(request)
                    await resp.write_eof()
                    answer.written()
                elif made is not None:
                    # one write: the client wakes once and reads it all
                    resp.content_length = len(made)
                    await resp.prepare(request)
                    for part in write_slices(made):
                        await resp.write(part)
                    answer.written()
                else:
                    await resp.prepare(request)
                    async for pdu in answer.pdus():
                        await resp.write(pdu)
                await resp.write_eof()
        except TimeoutError:
            self.metrics.refusal("write_timeout")
            if request.transport is not None:
                request.transport.abort()
        except (OSError, ConnectionError):
            pass
        finally:
            answer.discard()
        return resp

    async def _aggregator(self, request: web.Request) -> web.StreamResponse:
        return await self._http(request, ENDPOINTS["aggregator"])

    async def _extender(self, request: web.Request) -> web.StreamResponse:
        return await self._http(request, ENDPOINTS["extender"])

    def _reduced(self, response_type: int, status: int, message: str, endpoint: str) -> bytes:
        self.metrics.payload(endpoint, status)
        return encode_error_pdu(response_type, ErrorPayload(status, message))

    def _authenticate(self, pdu: AggregationRequestPDU | ExtendRequestPDU) -> Login | None:
        """The PDU's login, or ``None`` when it is refused."""
        try:
            return self.gate.authenticate(pdu)
        except BackendError:
            return None

    # -- aggregator -----------------------------------------------------------------

    def _aggregation_slots(self, pdu: AggregationRequestPDU, login: Login) -> list[_Slot]:
        """Add the PDU's valid requests to the open round (synchronously)."""
        slots: list[_Slot] = []
        now = int(time.time())
        for req in pdu.requests:
            slot = _Slot(req.request_id, req.request_level)
            slots.append(slot)
            status, message = self._check_aggregation_request(req, now)
            if status:
                slot.payload = self._refuse_request(req.request_id, status, message)
                continue
            try:
                slot.future, slot.index = self.rounds.add(
                    RoundRequest(req.request_hash, req.request_level, login.name)
                )
                slot.head = request_head(req.request_id)
            except (JuraError, ValueError, TypeError) as exc:
                slot.payload = self._refuse_request(
                    req.request_id, AggregatorStatus.INVALID_PAYLOAD, str(exc)
                )
        return slots

    def _check_aggregation_request(self, req: AggregationRequest, now: int) -> tuple[int, str]:
        alg = req.request_hash.algorithm
        if not alg.trusted or alg.is_deprecated_at(now):
            return AggregatorStatus.INVALID_PAYLOAD, f"{alg.ksi_name} is not accepted for signing"
        if req.request_level > self.config.max_level:
            return (
                AggregatorStatus.INVALID_PAYLOAD,
                f"request level {req.request_level} exceeds {self.config.max_level}",
            )
        return 0, ""

    def _refuse_request(self, request_id: int, status: int, message: str) -> bytes:
        self.metrics.payload("aggregator", status)
        return AggregationResponse(request_id, status, message).encode()

    async def _await_rounds(self, plans: Sequence[_Plan]) -> None:
        """Wait for the rounds of every slot, then keep only each slot's own answer.

        A plan sealed when its round closed keeps its PDUs; otherwise a slot
        keeps its chain and the round's shared part, not the round's chains
        for everyone: a client that reads slowly holds the memory of its
        own answers only.
        """
        for plan in plans:
            if plan.made is not None:
                # set as soon as the writer sealed it (its round decided: it
                # cannot fail any more), or when it will not
                await plan.made
                plan.made = None
                if plan.sealed is not None:
                    plan.slots = []
                    continue
            for slot in plan.slots:
                if slot.future is None:
                    continue
                try:
                    closed = await asyncio.shield(slot.future)
                except Exception:
                    # a failed round is never answered with a signature (its
                    # makers never ran: a round is decided before they run)
                    plan.sealed = None
                    slot.payload = self._refuse_request(
                        slot.request_id, AggregatorStatus.INTERNAL_ERROR, "the round failed"
                    )
                else:
                    plan.ended_at = closed.ended_at
                    if plan.sealed is not None:
                        break  # sealed when the round closed (every slot is in it)
                    slot.chain = closed.chains[slot.index]
                    slot.shared = closed.shared
                slot.future = None
            if plan.sealed is not None:
                plan.slots = []

    def _seal(self, plan: _Plan, closed: ClosedRound) -> None:
        """Make ``plan``'s PDUs now that its round is decided (on the writer thread).

        Its waiter wakes as soon as this ran (``plan.made``) and only writes
        the bytes, while the writer seals the next answers. The answers of a
        round beyond :data:`SEALED_BYTES_PER_ROUND` are left to
        :meth:`_produce` (made as they are written).
        """
        slots = plan.slots
        login = plan.login
        if not slots or login is None or plan.header is None or plan.algorithm is None:
            return  # discarded meanwhile
        current, used = self._sealing
        if current is None or current() is not closed:
            used = 0  # the first answer of a new round
        if used >= SEALED_BYTES_PER_ROUND:
            return
        chains, shared = closed.chains, closed.shared
        payloads: list[tuple[bytes, ...]] = []
        ok = 0
        for slot in slots:
            if slot.future is None:
                payloads.append((slot.payload,))
                continue
            chain = chains[slot.index]
            if slot.level:
                chain = shift_first_link_level(tlv.decode(chain), -slot.level)
            payloads.append(success_parts(slot.head, chain, shared))
            ok += 1
        sealed = list(
            iter_sealed(
                plan.response_type,
                plan.header,
                payloads,
                trailer=plan.trailer,
                key=login.key,
                algorithm=plan.algorithm,
            )
        )
        # one round at a time on the writer thread: keep only the current one
        self._sealing = (weakref.ref(closed), used + sum(map(len, sealed)))
        plan.ended_at = closed.ended_at
        plan.sealed_ok = ok
        plan.sealed = sealed

    def _slot_payload(self, slot: _Slot) -> bytes:
        if not slot.chain:
            return slot.payload
        chain = slot.chain
        if slot.level:
            # PDU v2: the first link's correction is relative to the request's
            # level (the client adds it back); the tree computed it absolute.
            chain = shift_first_link_level(tlv.decode(chain), -slot.level)
        self.metrics.payload("aggregator", 0)
        return success_payload(slot.request_id, chain, slot.shared)

    def _aggregator_config(self, login: Login) -> AggregatorConfig:
        return AggregatorConfig(
            max_level=self.config.announced_max_level,
            aggregation_algorithm=self.backend.algorithm,
            aggregation_period=self.config.aggregation_period_ms,
            max_requests=login.announced_max_requests(self.config.aggregation_period_ms),
        )

    def _ack(self, asked: AggregationAck, received: float) -> AggregationAck:
        close = self.rounds.next_close()
        return AggregationAck(
            request_time=asked.request_time,
            receipt_time=_us(received),
            ack_time=_us(time.time()),
            aggregation_delay=max(0, int((close - received) * 1000)),
            aggregation_period=self.config.aggregation_period_ms,
            aggregation_drift=0,
        )

    # -- extender ---------------------------------------------------------------------

    def _extend_all(self, requests: Sequence[ExtendRequest]) -> list[bytes]:
        return [self._extend_one(r) for r in requests]

    def _extend_one(self, req: ExtendRequest) -> bytes:
        """One extend answer (runs on a reader thread)."""
        backend = self.backend
        head, first = backend.calendar_head, backend.calendar_first
        status = self._extend_status(req, head, first, int(time.time()))
        if status:
            self.metrics.payload("extender", status)
            return ExtendResponse(
                req.request_id, status, ExtenderStatus.describe(status), calendar_last_time=head
            ).encode()
        try:
            chain = backend.extend_calendar(req.aggregation_time, req.publication_time)
        except (JuraError, ValueError) as exc:
            _log.warning("extending %d failed: %s", req.aggregation_time, exc)
            self.metrics.payload("extender", ExtenderStatus.INTERNAL_ERROR)
            return ExtendResponse(
                req.request_id, ExtenderStatus.INTERNAL_ERROR, "extending failed"
            ).encode()
        self.metrics.payload("extender", 0)
        return ExtendResponse(
            req.request_id, 0, calendar_last_time=head, calendar_chain=chain
        ).encode()

    @staticmethod
    def _extend_status(req: ExtendRequest, head: int | None, first: int | None, now: int) -> int:
        target = req.publication_time if req.publication_time is not None else head
        if target is not None and (target < req.aggregation_time or target == 0):
            return ExtenderStatus.INVALID_TIME_RANGE
        if req.aggregation_time > now or (target is not None and target > now):
            return ExtenderStatus.REQUEST_TIME_IN_FUTURE
        if head is None or first is None or target is None:
            return ExtenderStatus.REQUEST_TIME_TOO_NEW
        if req.aggregation_time < first:
            return ExtenderStatus.REQUEST_TIME_TOO_OLD
        if target > head:
            return ExtenderStatus.REQUEST_TIME_TOO_NEW
        return 0

    def _extender_config(self, login: Login) -> ExtenderConfig:
        return ExtenderConfig(
            max_requests=login.announced_max_requests(1000),
            calendar_first_time=self.backend.calendar_first,
            calendar_last_time=self.backend.calendar_head,
        )

    # -- plain routes -------------------------------------------------------------------

    async def _publications(self, request: web.Request) -> web.Response:
        self.metrics.request("publications", "ok", 0.0)
        return web.Response(
            body=self.backend.publications_file_bytes,
            content_type="application/octet-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def _publisher_certificate(self, request: web.Request) -> web.Response:
        # The certificate that signs /publications.bin, for `jura-trust trust pin`:
        # a client pins it once, after comparing its fingerprint out of band.
        from cryptography import x509  # noqa: PLC0415 - this route only
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        self.metrics.request("publications", "ok", 0.0)
        certificate = self.backend.publisher_certificate
        assert isinstance(certificate, x509.Certificate)
        return web.Response(
            body=certificate.public_bytes(serialization.Encoding.PEM),
            content_type="application/x-pem-file",
            headers={"Cache-Control": "no-cache"},
        )

    def health(self) -> dict[str, object]:
        """The ``/health`` document."""
        latest = self.backend.latest_publication()
        return {
            "status": "degraded" if self.rounds.last_error else "ok",
            "calendar_first": self.backend.calendar_first,
            "calendar_head": self.backend.calendar_head,
            "round_ms": self.config.round_ms,
            "pending_requests": self.rounds.pending,
            "rounds": self.metrics.rounds,
            "signatures": self.metrics.signatures,
            "last_round_error": self.rounds.last_error,
            "latest_publication": None if latest is None else latest.publication_time,
            "schedule": str(self.config.schedule),
        }

    async def _health(self, request: web.Request) -> web.Response:
        body = self.health()
        return web.Response(
            text=json.dumps(body),
            content_type="application/json",
            status=200 if body["status"] == "ok" else 503,
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain")


def _limit_connections(runner: web.AppRunner, service: Service) -> None:
    """Count the HTTP server's connections; close those over ``max_connections`` at once."""
    server = runner.server
    assert server is not None
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        made(handler, transport)
        if not service.connection_opened():
            service.metrics.refusal("connections")
            transport.abort()

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        service.connection_closed()
        lost(handler, exc)

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _tcp_url(host: str, port: int) -> str:
    return f"ksi+tcp://[{host}]:{port}" if ":" in host else f"ksi+tcp://{host}:{port}"


async def _serve(config: ServiceConfig, announce: Callable[[str], None]) -> None:
    service = Service(config, announce=announce)
    # aiohttp's keep-alive timer also runs while a request's headers are
    # incomplete (it closes a connection whose handler is still waiting for a
    # whole request), so it is the header timeout: a connection that has not
    # completed its request headers within header_timeout is closed, whether
    # it is idle or sending them a byte at a time.
    runner = web.AppRunner(
        service.app(),
        access_log=None,
        handle_signals=False,
        keepalive_timeout=config.header_timeout,
        # After a refused body (408, 413) aiohttp keeps reading ("lingering")
        # so the client sees the answer; bound it by the body timeout too.
        lingering_time=min(2.0, config.body_timeout),
    )
    await runner.setup()
    _limit_connections(runner, service)
    host, port = config.listen
    site = web.TCPSite(runner, host, port, backlog=1024, shutdown_timeout=10.0)
    tcp = TcpListener(service)
    tcp_port = 0
    try:
        listening = f"{host}:{port}"
        await site.start()
        if config.tcp_listen is not None:
            listening = "{}:{}".format(*config.tcp_listen)
            tcp_port = await tcp.start(*config.tcp_listen)
    except OSError as exc:
        await tcp.stop()
        await runner.cleanup()
        await service.stop()
        raise BackendError(
            f"cannot listen on {listening}: {exc.strerror}", code=ErrorCode.SVC_CONFIG
        ) from None
    service.start()
    bound = runner.addresses[0]
    if config.tcp_listen is not None:
        announce(f"jura-trust: listening on {_tcp_url(config.tcp_listen[0], tcp_port)} (TCP)")
    announce(f"jura-trust: listening on {_url(host, int(bound[1]))} (home {config.home})")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        announce("jura-trust: shutting down")
        service.drain()
        await tcp.stop()
        await runner.cleanup()
        await service.stop()


def serve(config: ServiceConfig, *, announce: Callable[[str], None] | None = None) -> None:
    """Run the service until SIGINT or SIGTERM (the ``jura-trust serve`` command).

    ``announce`` receives the listening line and one line per publication
    (default: print them, flushed, on standard output).
    """
    config.check_ready()

    def say(line: str) -> None:
        print(line, flush=True)

    asyncio.run(_serve(config, announce or say))
