"""The local KSI service over HTTP: aggregator, extender, publications file (layer 10).

Routes:

* ``POST /aggregator``: aggregation request PDUs (v2) -> response PDUs;
* ``POST /extender``: extend request PDUs -> response PDUs;
* ``GET /publications.bin``: the signed publications file;
* ``GET /health``: JSON status; ``GET /metrics``: Prometheus text.

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
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import attrs
from aiohttp import web

from jura_trust import pki
from jura_trust.backends.home import HomeLock, lock_for_service
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.backends.stores import SQLiteCalendarStore
from jura_trust.core import tlv
from jura_trust.errors import BackendError, ErrorCode, JuraError
from jura_trust.pdu import (
    AGGREGATION_REQUEST_PDU_TYPE,
    AGGREGATION_RESPONSE_PDU_TYPE,
    EXTEND_REQUEST_PDU_TYPE,
    EXTEND_RESPONSE_PDU_TYPE,
    PDU,
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
from jura_trust.service._wire import seal_responses, success_payload
from jura_trust.service.auth import Gate
from jura_trust.service.config import Login, ServiceConfig
from jura_trust.service.metrics import Metrics
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
_log = logging.getLogger("jura_trust.service")


def _read_signer(key: Path, cert: Path, what: str) -> pki.CalendarSigner:
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
        calendar_signer = _read_signer(config.calendar_key, config.calendar_certificate, "calendar")
    if config.publisher_key is not None and config.publisher_certificate is not None:
        publisher = _read_signer(config.publisher_key, config.publisher_certificate, "publisher")
        try:
            pki.check_subject_constraints(publisher.certificate, {"E": config.publisher_email})
        except JuraError as exc:
            raise BackendError(
                f"service config: the publisher certificate does not hold the e-mail "
                f"{config.publisher_email!r}: {exc.message}",
                code=ErrorCode.SVC_CONFIG,
            ) from None
    config.home.mkdir(parents=True, exist_ok=True)
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
    """

    name: str
    request_type: int
    response_type: int
    too_large: int


#: The two PDU endpoints, by name.
ENDPOINTS: Final = {
    "aggregator": Endpoint(
        "aggregator",
        AGGREGATION_REQUEST_PDU_TYPE,
        AGGREGATION_RESPONSE_PDU_TYPE,
        AggregatorStatus.REQUEST_TOO_LARGE,
    ),
    "extender": Endpoint(
        "extender",
        EXTEND_REQUEST_PDU_TYPE,
        EXTEND_RESPONSE_PDU_TYPE,
        ExtenderStatus.INVALID_REQUEST,
    ),
}


@attrs.frozen(slots=True)
class Answer:
    """The answer to one body of request PDUs, for any transport.

    Attributes:
        status: 200, or the HTTP status of a refusal (400 unreadable or
            wrong PDU type, 408 too slow, 413 too large).
        body: the response PDUs (a reduced error PDU for a refusal).
    """

    status: int
    body: bytes

    @property
    def close(self) -> bool:
        """Whether the connection should be closed after this answer."""
        return self.status not in (200, 400)


@attrs.define(slots=True)
class _Slot:
    """One aggregation request payload on its way to an answer."""

    request_id: int
    level: int = 0
    future: asyncio.Future[ClosedRound] | None = None
    index: int = -1
    payload: bytes = b""


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
            self._home_lock = lock_for_service(config.home)
            try:
                backend = open_backend(config, home_lock=self._home_lock)
            except BaseException:
                self._home_lock.release()
                raise
        self.backend = backend
        self.metrics = Metrics()
        self.gate = Gate(config.logins)
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

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=self.config.max_request_bytes)
        app.router.add_post("/aggregator", self._aggregator)
        app.router.add_post("/extender", self._extender)
        app.router.add_get("/publications.bin", self._publications)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        return app

    # -- transport-independent request handling ------------------------------------

    async def answer(self, endpoint: Endpoint, body: bytes, received: float) -> Answer:
        """Answer a body of request PDUs for ``endpoint``, whatever the transport.

        The HTTP routes and the TCP listener both call this with the bytes
        they read (an HTTP body; one PDU from a TCP stream). Unreadable
        input, or any PDU that is not ``endpoint``'s request type, refuses
        the whole body (status 400, a reduced error PDU with 0x101);
        otherwise every PDU is authenticated, rate-limited and answered in
        order (status 200).
        """
        started = time.perf_counter()
        try:
            try:
                pdus = parse_pdus(body)
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
            if endpoint.name == "aggregator":
                out = await self._aggregate(pdus, received)
            else:
                out = await self._extend(pdus)
        except _RefusedError as refusal:
            return self.refusal(endpoint, refusal.http_status, refusal.status, refusal.message)
        self.metrics.request(endpoint.name, "ok", time.perf_counter() - started)
        return Answer(200, b"".join(out))

    def refusal(self, endpoint: Endpoint, http_status: int, status: int, message: str) -> Answer:
        """A whole body refused: a reduced error PDU (no header, no HMAC)."""
        self.metrics.request(endpoint.name, f"http_{http_status}", 0.0)
        self.metrics.payload(endpoint.name, status)
        reduced = encode_error_pdu(endpoint.response_type, ErrorPayload(status, message))
        return Answer(http_status, reduced)

    # -- HTTP ------------------------------------------------------------------------

    async def _read_body(self, request: web.Request, endpoint: Endpoint) -> bytes:
        limit = self.config.max_request_bytes
        too_large = endpoint.too_large
        if request.content_length is not None and request.content_length > limit:
            raise _RefusedError(413, too_large, f"the request body exceeds {limit} bytes")
        try:
            async with asyncio.timeout(self.config.body_timeout):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _RefusedError(413, too_large, f"the request body exceeds {limit} bytes") from None
        except TimeoutError:
            raise _RefusedError(408, 0x101, "the request body did not arrive in time") from None

    async def _http(self, request: web.Request, endpoint: Endpoint) -> web.Response:
        received = time.time()
        try:
            body = await self._read_body(request, endpoint)
        except _RefusedError as refusal:
            answer = self.refusal(endpoint, refusal.http_status, refusal.status, refusal.message)
        else:
            answer = await self.answer(endpoint, body, received)
        resp = web.Response(
            status=answer.status, body=answer.body, content_type=RESPONSE_CONTENT_TYPE
        )
        if answer.close:
            resp.force_close()
        return resp

    async def _aggregator(self, request: web.Request) -> web.Response:
        return await self._http(request, ENDPOINTS["aggregator"])

    async def _extender(self, request: web.Request) -> web.Response:
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

    async def _aggregate(self, pdus: Sequence[PDU], received: float) -> list[bytes]:
        plans: list[tuple[AggregationRequestPDU, Login, list[_Slot], list[bytes]] | bytes] = []
        # Phase 1, without awaiting: every request of the body joins the same round.
        for pdu in pdus:
            assert isinstance(pdu, AggregationRequestPDU)
            login = self._authenticate(pdu)
            if login is None:
                plans.append(
                    self._reduced(
                        AGGREGATION_RESPONSE_PDU_TYPE,
                        AggregatorStatus.AUTHENTICATION_FAILURE,
                        "authentication failed",
                        "aggregator",
                    )
                )
                continue
            trailer: list[bytes] = []
            if not self.gate.allow(login, len(pdu.requests)):
                self.metrics.payload("aggregator", AggregatorStatus.TOO_MANY_REQUESTS)
                error = ErrorPayload(AggregatorStatus.TOO_MANY_REQUESTS, "rate limit exceeded")
                plans.append((pdu, login, [], [error.encode()]))
                continue
            slots = self._aggregation_slots(pdu, login)
            if pdu.config_request:
                trailer.append(self._aggregator_config(login).encode())
            if pdu.ack_request is not None:
                trailer.append(self._ack(pdu.ack_request, received).encode())
            plans.append((pdu, login, slots, trailer))
        # Phase 2: wait for the round(s), then answer in order.
        out: list[bytes] = []
        for plan in plans:
            if isinstance(plan, bytes):
                out.append(plan)
                continue
            pdu, login, slots, trailer = plan
            payloads = await self._slot_payloads(slots)
            assert pdu.hmac is not None
            out += seal_responses(
                AGGREGATION_RESPONSE_PDU_TYPE,
                Header(login.name, pdu.header.instance_id, pdu.header.message_id),
                payloads,
                trailer=trailer,
                key=login.key,
                algorithm=pdu.hmac.algorithm,
            )
        return out

    async def _slot_payloads(self, slots: Sequence[_Slot]) -> list[bytes]:
        """The answers of one PDU's slots, in order, once their rounds are closed.

        Each distinct round (usually one per PDU) is awaited once, then
        every payload is made without further waiting.
        """
        closed: dict[int, ClosedRound | None] = {}
        for slot in slots:
            future = slot.future
            if future is not None and id(future) not in closed:
                try:
                    closed[id(future)] = await asyncio.shield(future)
                except Exception:  # the round failed: its requests get INTERNAL_ERROR
                    closed[id(future)] = None
        out: list[bytes] = []
        answered = 0
        for slot in slots:
            if slot.future is None:
                out.append(slot.payload)
                continue
            rnd = closed[id(slot.future)]
            if rnd is None:
                out.append(
                    self._refuse_request(
                        slot.request_id, AggregatorStatus.INTERNAL_ERROR, "the round failed"
                    )
                )
                continue
            chain = rnd.chains[slot.index]
            if slot.level:
                # PDU v2: the first link's correction is relative to the request's
                # level (the client adds it back); the tree computed it absolute.
                chain = shift_first_link_level(tlv.decode(chain), -slot.level)
            out.append(success_payload(slot.request_id, chain, rnd.shared))
            answered += 1
        if answered:
            self.metrics.payload("aggregator", 0, answered)
        return out

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

    async def _extend(self, pdus: Sequence[PDU]) -> list[bytes]:
        out: list[bytes] = []
        loop = asyncio.get_running_loop()
        for pdu in pdus:
            assert isinstance(pdu, ExtendRequestPDU)
            login = self._authenticate(pdu)
            if login is None:
                out.append(
                    self._reduced(
                        EXTEND_RESPONSE_PDU_TYPE,
                        ExtenderStatus.AUTHENTICATION_FAILURE,
                        "authentication failed",
                        "extender",
                    )
                )
                continue
            assert pdu.hmac is not None
            trailer: list[bytes] = []
            payloads: list[bytes] = []
            if not self.gate.allow(login, len(pdu.requests)):
                self.metrics.payload("extender", ExtenderStatus.INVALID_REQUEST)
                error = ErrorPayload(ExtenderStatus.INVALID_REQUEST, "rate limit exceeded")
                trailer.append(error.encode())
            else:
                payloads = await loop.run_in_executor(self._readers, self._extend_all, pdu.requests)
                if pdu.config_request:
                    trailer.append(self._extender_config(login).encode())
            out += seal_responses(
                EXTEND_RESPONSE_PDU_TYPE,
                Header(login.name, pdu.header.instance_id, pdu.header.message_id),
                payloads,
                trailer=trailer,
                key=login.key,
                algorithm=pdu.hmac.algorithm,
            )
        return out

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
