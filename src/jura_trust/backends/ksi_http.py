"""The ``ksi_http`` backend: a KSI PDU v2 client over HTTP (layer 9).

:class:`KsiHttpBackend` signs, extends and fetches the publications file
from any KSI service that speaks PDU v2 over HTTP: jura_trust's own local
service (``jura-trust serve``) and Guardtime's gateways alike (a URL, a
login and its key). Standard library only (:mod:`http.client`).

What it does on the wire:

* every request PDU carries an HMAC (SHA-256 by default) under the login's
  key; every response PDU's HMAC is checked with the same algorithm before
  anything in it is used (SVC-03 otherwise);
* :meth:`KsiHttpBackend.sign_many` sends many aggregation requests in one
  PDU (several PDUs back to back in one HTTP body when they do not fit one
  PDU), so they all land in the same round;
* responses are matched to requests by request id (a response for a
  request id that was not sent, or one that leaves a request unanswered, is
  SVC-10), and each returned signature's document hash must equal the
  imprint that was sent: the server is never trusted blindly (SVC-04
  otherwise);
* a request level is sent with the request; in PDU v2 the first link of the
  answer carries a level correction relative to it, and the client adds the
  level back (as libksi does), so the signature holds the absolute
  correction a verifier expects. :meth:`KsiHttpBackend.sign_many` also
  checks that such a chain hashes up to the calendar chain;
* ``ksi+tcp://host:port`` aggregator and extender URLs send the same PDUs
  over raw TCP (one persistent connection per thread), as libksi does;
  ``ksi+http(s)://`` is the same as ``http(s)://``;
* one keep-alive connection per thread and endpoint; retries (with
  exponential backoff) only on connection failures and timeouts (a signing
  request retried after a timeout may leave an unused signature on the
  server's calendar: harmless, never a wrong answer).

Errors are :class:`~jura_trust.errors.BackendError` with a stable code:
SVC-01 unavailable (connection refused or dropped, HTTP 5xx without a
PDU), SVC-02 timeout, SVC-03 authentication (the server's status 0x102 or a
bad response HMAC), SVC-04 bad response (unparseable or inconsistent),
SVC-10 request id mismatch, SVC-05 refused (any other status, with the
server's status and message in ``details``), SVC-08 misconfiguration (an
endpoint not given).
"""

from __future__ import annotations

import functools
import hmac as _hmac
import http.client
import itertools
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

import attrs

from jura_trust import pki
from jura_trust.core import tlv
from jura_trust.core.chains import CalendarChain
from jura_trust.core.hashing import DEFAULT_ALGORITHM, HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, FormatError, JuraError
from jura_trust.pdu import (
    AGGREGATION_REQUEST_PDU_TYPE,
    AGGREGATION_RESPONSE_PDU_TYPE,
    MAX_PAYLOADS,
    MAX_PDU_SIZE,
    MAX_STREAM_SIZE,
    PDU,
    AggregationRequest,
    AggregationResponsePDU,
    AggregatorConfig,
    AggregatorStatus,
    ErrorPayload,
    ExtenderConfig,
    ExtenderStatus,
    ExtendRequest,
    ExtendResponse,
    ExtendResponsePDU,
    Header,
    encode_extend_request,
    parse_pdu,
    seal_pdu,
    shift_first_link_level,
    verify_hmac,
)
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.verify import check_extended_chain

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_SIZE",
    "KsiHttpBackend",
    "PublicationsVerifier",
]

#: Seconds to wait for a connection and for each read (a sign request waits
#: for the server's round, usually one second).
DEFAULT_TIMEOUT = 10.0
#: Further attempts after a connection failure or a timeout.
DEFAULT_RETRIES = 2
#: The first retry waits this many seconds; each next one twice as long.
DEFAULT_BACKOFF = 0.2
#: Largest response body read (a signature is about 2 KiB; a publications
#: file well under 1 MiB).
MAX_RESPONSE_SIZE = 64 * 1024 * 1024
#: Bytes of one request PDU left for payloads (header, HMAC and TLV16
#: headers take the rest of :data:`~jura_trust.pdu.MAX_PDU_SIZE`).
_PDU_BUDGET = MAX_PDU_SIZE - 1024

#: The configuration request element of an aggregation request PDU.
_CONFIG_REQUEST = tlv.encode(0x04, b"")
_REQUEST_CONTENT_TYPE = "application/ksi-request"
_USER_AGENT = "jura_trust-ksi_http/1"

#: Checks a downloaded publications file; raises to refuse it.
PublicationsVerifier = Callable[[PublicationsFile], None]

_T = TypeVar("_T")


def _error(code: ErrorCode, message: str, **details: object) -> BackendError:
    return BackendError(message, code=code, **details)


def _bad_response(message: str, **details: object) -> BackendError:
    return _error(ErrorCode.SVC_BAD_RESPONSE, message, **details)


def _refused(error: ErrorPayload, describe: Callable[[int], str], what: str) -> BackendError:
    text = f"{what} refused the request: status 0x{error.status:x} ({describe(error.status)})"
    if error.message:
        text += f": {error.message}"
    code = (
        ErrorCode.SVC_AUTH
        if error.status == AggregatorStatus.AUTHENTICATION_FAILURE
        else ErrorCode.SVC_REFUSED
    )
    return _error(code, text, status=error.status, server_message=error.message)


@attrs.frozen(slots=True)
class _Endpoint:
    scheme: str
    host: str
    port: int
    path: str
    url: str

    @classmethod
    def parse(cls, url: str, what: str, *, tcp: bool = True) -> _Endpoint:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("ksi+http", "ksi+https"):
            scheme = scheme[4:]
        schemes = ("http", "https", "ksi+tcp") if tcp else ("http", "https")
        if scheme not in schemes or not parts.hostname:
            form = "http(s)://host[:port]/path or ksi+tcp://host:port" if tcp else "http(s)://"
            raise _error(ErrorCode.SVC_CONFIG, f"{what} URL {url!r} is not {form}")
        try:
            port = parts.port or {"https": 443, "http": 80}.get(scheme, 0)
        except ValueError:
            raise _error(ErrorCode.SVC_CONFIG, f"{what} URL {url!r} has a bad port") from None
        if not port:
            raise _error(ErrorCode.SVC_CONFIG, f"{what} URL {url!r} needs a port")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(scheme, parts.hostname, port, path, url)

    @property
    def tcp(self) -> bool:
        """Whether PDUs go over raw TCP (``ksi+tcp://``)."""
        return self.scheme == "ksi+tcp"


class _RawAnswer:
    """One aggregation response payload, read without parsing the signature.

    Holds the payload's value and where each signature item lies in it
    (``spans``: type, first byte, start of the element, start and end of
    its value); :attr:`items` makes the elements when they are asked for.
    ``whole`` is ``(start, end)`` when the items are exactly one aggregation
    chain followed by the calendar items, in type order and back to back
    (what the service sends): the signature's value is then that one slice.
    """

    __slots__ = ("_items", "data", "message", "spans", "status", "whole")

    def __init__(
        self,
        status: int,
        message: str | None,
        data: bytes,
        spans: Sequence[tuple[int, int, int, int, int]],
        whole: tuple[int, int] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.data = data
        self.spans = spans
        self.whole = whole
        self._items: tuple[tlv.TLV, ...] | None = None

    @property
    def items(self) -> tuple[tlv.TLV, ...]:
        """The signature items (0x801-0x806), in the order the payload holds them."""
        if self._items is None:
            data = self.data
            self._items = tuple(
                tlv.TLV(
                    typ,
                    data[start:stop],
                    bool(b0 & 0x40),
                    bool(b0 & 0x20),
                    bool(b0 & 0x80),
                    data[pos:stop],
                )
                for typ, b0, pos, start, stop in self.spans
            )
        return self._items


class KsiHttpBackend:
    """A KSI signing service reached over HTTP with PDU v2.

    Implements :class:`~jura_trust.backends.base.SigningService`. Safe to
    share between threads (each thread keeps its own connections).

    Args:
        aggregator_url: the aggregator endpoint (``POST``), e.g.
            ``http://127.0.0.1:8080/aggregator``; ``None`` when only
            extending or verifying.
        extender_url: the extender endpoint, if extending is wanted.
        publications_url: where the publications file is served.
        login: the login id sent in every PDU header (not needed to
            download the publications file only).
        key: the login's HMAC key (the service password); text is UTF-8
            encoded.
        timeout: seconds for connecting and for each read.
        retries: further attempts after a connection failure or timeout.
        backoff: seconds before the first retry (doubling each time).
        algorithm: the HMAC algorithm (must be trusted for new data).
        trust_anchors: certificates the publications file's signer must
            chain to (see :meth:`publications_file`).
        cert_constraints: subject constraints on that signer, e.g.
            ``{"E": "publications@guardtime.com"}``.
        publications_verifier: a custom check instead of anchors and
            constraints; it raises to refuse a file.
    """

    def __init__(
        self,
        aggregator_url: str | None,
        extender_url: str | None = None,
        publications_url: str | None = None,
        *,
        login: str | None = None,
        key: bytes | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
        trust_anchors: Sequence[pki.Certificate] = (),
        cert_constraints: Mapping[str, str] | None = None,
        publications_verifier: PublicationsVerifier | None = None,
    ) -> None:
        if (login is None) != (key is None):
            raise ValueError("give both login and key, or neither")
        if login is not None and (not isinstance(login, str) or not login or "\x00" in login):
            raise ValueError("login must be a non-empty string without NUL")
        key_bytes = key.encode("utf-8") if isinstance(key, str) else bytes(key or b"")
        if login is not None and not key_bytes:
            raise ValueError("the HMAC key must not be empty")
        if not algorithm.trusted:
            raise ValueError(f"{algorithm.ksi_name} is not trusted for new HMACs")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        self._aggregator = (
            None if aggregator_url is None else _Endpoint.parse(aggregator_url, "aggregator")
        )
        self._extender = None if extender_url is None else _Endpoint.parse(extender_url, "extender")
        self._publications = (
            None
            if publications_url is None
            else _Endpoint.parse(publications_url, "publications file", tcp=False)
        )
        #: The login id, or ``None`` for a publications-file-only client.
        self.login = login
        self._login_id = login or ""
        self._key = key_bytes
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.algorithm = algorithm
        self._trust_anchors = tuple(trust_anchors)
        self._constraints = dict(cert_constraints or {})
        self._verifier = publications_verifier
        self._local = threading.local()
        self._all_connections: list[http.client.HTTPConnection | socket.socket] = []
        self._connections_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        self._instance_id = int.from_bytes(os.urandom(4), "big") or 1
        self._pubfile: PublicationsFile | None = None
        self._pubfile_verified = False

    # -- transport --------------------------------------------------------------

    def _next_ids(self, n: int) -> list[int]:
        with self._ids_lock:
            return [next(self._ids) for _ in range(n)]

    def _connection(self, endpoint: _Endpoint) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if conns is None:
            conns = self._local.connections = {}
        key = (endpoint.scheme, endpoint.host, endpoint.port)
        conn = conns.get(key)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if endpoint.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(endpoint.host, endpoint.port, timeout=self.timeout)
            conns[key] = conn
            with self._connections_lock:
                self._all_connections.append(conn)
        return conn

    def _drop(self, endpoint: _Endpoint) -> None:
        conns = getattr(self._local, "connections", {})
        conn = conns.pop((endpoint.scheme, endpoint.host, endpoint.port), None)
        if conn is not None:
            conn.close()

    def _once(self, endpoint: _Endpoint, method: str, body: bytes | None) -> tuple[int, bytes]:
        conn = self._connection(endpoint)
        headers = {"User-Agent": _USER_AGENT, "Connection": "keep-alive"}
        if body is not None:
            headers["Content-Type"] = _REQUEST_CONTENT_TYPE
        conn.request(method, endpoint.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read(MAX_RESPONSE_SIZE + 1)
        if len(data) > MAX_RESPONSE_SIZE:
            self._drop(endpoint)
            raise _bad_response(f"{endpoint.url}: response larger than {MAX_RESPONSE_SIZE} bytes")
        if resp.will_close:
            self._drop(endpoint)
        return resp.status, data

    def _exchange(
        self, endpoint: _Endpoint, method: str, body: bytes | Callable[[], bytes] | None
    ) -> tuple[int, bytes]:
        """One HTTP exchange, retried on connection failures and timeouts.

        A callable ``body`` is called for each attempt: a retried request
        PDU gets a new message id (the service refuses a repeated one).
        """

        def once() -> tuple[int, bytes]:
            return self._once(endpoint, method, body() if callable(body) else body)

        return self._with_retries(endpoint, once, self._drop, (OSError, http.client.HTTPException))

    def _with_retries(
        self,
        endpoint: _Endpoint,
        once: Callable[[], _T],
        drop: Callable[[_Endpoint], None],
        transient: tuple[type[BaseException], ...],
    ) -> _T:
        """``once()``, retried after a timeout (SVC-02) or a ``transient`` failure (SVC-01).

        ``drop`` forgets the endpoint's connection before each retry; the
        last failure is raised after :attr:`retries` retries, with backoff.
        """
        attempt = 0
        while True:
            try:
                return once()
            except TimeoutError as exc:
                drop(endpoint)
                failure = _error(
                    ErrorCode.SVC_TIMEOUT,
                    f"{endpoint.url}: no answer within {self.timeout:g} s",
                    url=endpoint.url,
                    attempts=attempt + 1,
                )
                cause: BaseException = exc
            except transient as exc:
                drop(endpoint)
                failure = _error(
                    ErrorCode.SVC_UNAVAILABLE,
                    f"{endpoint.url}: {type(exc).__name__}: {exc}".rstrip(": "),
                    url=endpoint.url,
                    attempts=attempt + 1,
                )
                cause = exc
            if attempt >= self.retries:
                raise failure from cause
            time.sleep(self.backoff * (2**attempt))
            attempt += 1

    # -- raw TCP (ksi+tcp://) ------------------------------------------------------------

    def _tcp_socket(self, endpoint: _Endpoint) -> socket.socket:
        socks: dict[tuple[str, int], socket.socket] | None = getattr(self._local, "sockets", None)
        if socks is None:
            socks = self._local.sockets = {}
        key = (endpoint.host, endpoint.port)
        sock = socks.get(key)
        if sock is None:
            sock = socket.create_connection(key, timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks[key] = sock
            with self._connections_lock:
                self._all_connections.append(sock)
        return sock

    def _drop_tcp(self, endpoint: _Endpoint) -> None:
        socks = getattr(self._local, "sockets", {})
        sock = socks.pop((endpoint.host, endpoint.port), None)
        if sock is not None:
            sock.close()

    def _tcp_once(
        self, endpoint: _Endpoint, body: Callable[[], bytes], ids: frozenset[int], config: bool
    ) -> list[tlv.TLV]:
        """Send request PDUs on the stream; read response PDUs until all are answered."""
        socks = getattr(self._local, "sockets", {})
        reused = (endpoint.host, endpoint.port) in socks
        sock = self._tcp_socket(endpoint)
        try:
            sock.sendall(body())
            first = _recv_pdu(sock)
        except (ConnectionError, BrokenPipeError):
            if not reused:
                raise
            # A kept connection the server closed while idle: reconnect once
            # (with new message ids, as every resend).
            self._drop_tcp(endpoint)
            sock = self._tcp_socket(endpoint)
            sock.sendall(body())
            first = _recv_pdu(sock)
        pending = [first]
        collector = _StreamCollector(endpoint.url, ids, config)
        while True:
            raw = pending.pop() if pending else _recv_pdu(sock)
            try:
                done, drop = collector.feed(raw)
            except BackendError:
                self._drop_tcp(endpoint)
                raise
            if drop:
                self._drop_tcp(endpoint)
            if done:
                return collector.elements

    def _tcp_exchange(
        self, endpoint: _Endpoint, body: Callable[[], bytes], ids: frozenset[int], config: bool
    ) -> list[tlv.TLV]:
        """One TCP exchange, retried on connection failures and timeouts (a new body each time)."""
        return self._with_retries(
            endpoint,
            lambda: self._tcp_once(endpoint, body, ids, config),
            self._drop_tcp,
            (OSError, FormatError),
        )

    def _post_pdus(
        self,
        endpoint: _Endpoint,
        body: Callable[[], bytes],
        ids: frozenset[int] = frozenset(),
        config: bool = False,
    ) -> Iterator[tlv.TLV]:
        """Send request PDUs built by ``body``; yield the response PDU elements.

        ``body`` is called for every attempt, so a resent request carries
        new message ids: the service refuses a repeated (login, instance
        id, message id) as a replay.

        Over HTTP the answer is the response body; over TCP the stream is
        read until every request id in ``ids`` (and the configuration, when
        ``config``) is answered, or an error element arrives.
        """
        if endpoint.tcp:
            yield from self._tcp_exchange(endpoint, body, ids, config)
            return
        status, data = self._exchange(endpoint, "POST", body)
        yield from _http_elements(endpoint, status, data)

    # -- PDU checks ---------------------------------------------------------------

    def _authentic(self, parsed: PDU, what: str) -> None:
        """Fail on a PDU-level error; check the HMAC of everything else."""
        error = getattr(parsed, "error", None)
        describe = (
            AggregatorStatus.describe
            if parsed.TYPE == AGGREGATION_RESPONSE_PDU_TYPE
            else ExtenderStatus.describe
        )
        if parsed.hmac is None:
            if error is None:
                raise _bad_response(f"{what} response carries no HMAC")
            raise _refused(error, describe, what)
        verify_hmac(parsed, self._key, algorithm=self.algorithm, held=True)
        if error is not None:
            raise _refused(error, describe, what)

    def _parse(self, element: tlv.TLV, cls: type[_T], what: str) -> _T:
        try:
            parsed = parse_pdu(element.raw)
        except FormatError as exc:
            raise _bad_response(
                f"{what} response is malformed: {exc.message}", cause=exc.code.value
            ) from None
        if not isinstance(parsed, cls):
            raise _bad_response(f"{what} answered with a PDU of type 0x{element.type:x}")
        self._authentic(parsed, what)
        return parsed

    def _require(self, endpoint: _Endpoint | None, what: str, *, pdu: bool = True) -> _Endpoint:
        if endpoint is None:
            raise _error(ErrorCode.SVC_CONFIG, f"no {what} URL configured")
        if pdu and self.login is None:
            raise _error(ErrorCode.SVC_CONFIG, f"no login and key configured for the {what}")
        return endpoint

    # -- aggregation -----------------------------------------------------------------

    def _aggregation_body(
        self, requests: Sequence[AggregationRequest], config_request: bool
    ) -> bytes:
        pdus: list[bytes] = []
        chunk: list[bytes] = []
        size = 0
        for request in requests:
            algorithm = request.request_hash.algorithm
            if not algorithm.trusted:  # as encode_aggregation_request refuses it
                raise ValueError(f"request hash algorithm {algorithm.ksi_name} is not trusted")
            payload = request.encode()  # once: measured, then sealed
            n = len(payload)
            if chunk and (len(chunk) >= MAX_PAYLOADS or size + n > _PDU_BUDGET):
                pdus.append(self._aggregation_pdu(chunk, False))
                chunk, size = [], 0
            chunk.append(payload)
            size += n
        if chunk or config_request:
            pdus.append(self._aggregation_pdu(chunk, config_request))
        body = b"".join(pdus)
        if len(body) > MAX_STREAM_SIZE:
            raise ValueError(
                f"{len(requests)} requests need {len(body)} bytes, above the "
                f"{MAX_STREAM_SIZE}-byte limit of one HTTP request; sign fewer at once"
            )
        return body

    def _aggregation_pdu(self, payloads: Sequence[bytes], config: bool) -> bytes:
        """One request PDU of encoded request payloads (and the configuration request).

        The bytes :func:`~jura_trust.pdu.encode_aggregation_request` makes
        of the same requests (tests/backends/test_ksi_http.py holds them to
        it), without encoding each request a second time.
        """
        header = Header(self._login_id, self._instance_id, self._next_ids(1)[0])
        body = [*payloads, _CONFIG_REQUEST] if config else payloads
        return seal_pdu(AGGREGATION_REQUEST_PDU_TYPE, header, body, self._key, self.algorithm)

    def _requests(self, imprints: Sequence[Imprint], level: int) -> list[AggregationRequest]:
        if not 0 <= level <= 0xFF:
            raise ValueError("level out of range 0..255")
        for imprint in imprints:
            if not isinstance(imprint, Imprint):
                raise TypeError("imprints must be Imprint values")
        ids = self._next_ids(len(imprints))
        return [AggregationRequest(i, imp, level) for i, imp in zip(ids, imprints, strict=True)]

    def sign(self, imprint: Imprint, *, level: int = 0) -> Signature:
        """Sign one imprint (``level``: its height in a local tree)."""
        return self.sign_many([imprint], level=level)[0]

    def sign_many(self, imprints: Sequence[Imprint], *, level: int = 0) -> list[Signature]:
        """Sign every imprint with one HTTP request (so, normally, in one round).

        Signatures come back in the order of ``imprints``; each is checked
        against its imprint and level (SVC-04 if it does not match).
        """
        if not imprints:
            return []
        endpoint, requests, body = self._sign_request(imprints, level)
        return self._signatures(requests, self._post_pdus(endpoint, body, _ids(requests)), level)

    def _sign_request(
        self, imprints: Sequence[Imprint], level: int
    ) -> tuple[_Endpoint, list[AggregationRequest], Callable[[], bytes]]:
        """The aggregator, the requests and the body (made anew for every attempt)."""
        endpoint = self._require(self._aggregator, "aggregator")
        requests = self._requests(imprints, level)
        return endpoint, requests, functools.partial(self._aggregation_body, requests, False)

    def _signatures(
        self, requests: Sequence[AggregationRequest], elements: Iterable[tlv.TLV], level: int
    ) -> list[Signature]:
        """The checked signatures in the response PDUs, in the order of ``requests``."""
        answers: dict[int, Signature | BackendError] = {}
        for element in elements:
            parsed = self._parse(element, AggregationResponsePDU, "aggregator")
            for resp in parsed.responses:
                if resp.request_id in answers:
                    raise _bad_response(f"aggregator answered request {resp.request_id} twice")
                try:
                    answers[resp.request_id] = resp.signature(level)
                except BackendError as exc:
                    answers[resp.request_id] = exc
        self._no_strangers(answers, _ids(requests))
        out: list[Signature] = []
        for request in requests:
            answer = self._answer(answers, request.request_id)
            if isinstance(answer, BackendError):
                raise answer
            _check_signature(answer, request)
            out.append(answer)
        return out

    def sign_many_encoded(self, imprints: Sequence[Imprint], *, level: int = 0) -> list[bytes]:
        """Like :meth:`sign_many`, returning each signature's bytes (a ``.ksig``).

        For bulk signing where the signatures are stored, not inspected: the
        response PDUs' HMACs, the request ids, the statuses and each
        signature's document hash are checked, but the signatures are not
        parsed (parse them with :meth:`Signature.from_bytes` when they are
        read; verification checks everything else, including the level with
        ``input_level``). Several times cheaper for the client than
        :meth:`sign_many`.
        """
        if not imprints:
            return []
        endpoint = self._require(self._aggregator, "aggregator")
        requests = self._requests(imprints, level)
        answers: dict[int, _RawAnswer] = {}
        body = functools.partial(self._aggregation_body, requests, False)
        for element in self._post_pdus(endpoint, body, _ids(requests)):
            for request_id, answer in self._raw_answers(element):
                if request_id in answers:
                    raise _bad_response(f"aggregator answered request {request_id} twice")
                answers[request_id] = answer
        self._no_strangers(answers, _ids(requests))
        out: list[bytes] = []
        for request in requests:
            raw = self._answer(answers, request.request_id)
            if raw.status != 0:
                raise _refused(
                    ErrorPayload(raw.status, raw.message), AggregatorStatus.describe, "aggregator"
                )
            out.append(_assemble(raw, request))
        return out

    def _answer(self, answers: Mapping[int, _T], request_id: int) -> _T:
        try:
            return answers[request_id]
        except KeyError:
            raise _error(
                ErrorCode.SVC_REQUEST_ID_MISMATCH,
                f"the response does not answer request {request_id}",
                request_id=request_id,
                answered=sorted(answers),
            ) from None

    def _no_strangers(self, answers: Mapping[int, object], sent: frozenset[int]) -> None:
        """Refuse a response that answers a request id this client did not send."""
        strangers = sorted(set(answers) - sent)
        if strangers:
            raise _error(
                ErrorCode.SVC_REQUEST_ID_MISMATCH,
                f"the response answers request {strangers[0]}, which was not sent "
                f"(sent: {sorted(sent)[:5]})",
                request_ids=strangers[:10],
            )

    def _raw_answers(self, element: tlv.TLV) -> Iterator[tuple[int, _RawAnswer]]:
        """Authenticate a response PDU and read its payloads shallowly."""
        try:
            children = element.children() if element.type == AGGREGATION_RESPONSE_PDU_TYPE else []
        except FormatError:
            children = []
        if not children or children[0].type != 0x01 or children[-1].type != 0x1F:
            # Not an authenticated response: let the full parser say why.
            self._parse(element, AggregationResponsePDU, "aggregator")
            raise _bad_response("aggregator response has an unexpected layout")
        try:
            mac = tlv.decode_imprint(children[-1].value, what="HMAC")
        except FormatError as exc:
            raise _bad_response(f"aggregator response HMAC: {exc.message}") from None
        shell = tlv.keep_raw(AggregationResponsePDU(None, (), None, None, None, mac), element.raw)
        # in one go: the thread keeps the interpreter while it checks its answer
        verify_hmac(shell, self._key, algorithm=self.algorithm, held=True)
        for child in children[1:-1]:
            if child.type == 0x02:
                yield _read_payload(child)
            elif child.type == 0x03:
                try:
                    error = ErrorPayload.from_tlv(child)
                except FormatError as exc:
                    raise _bad_response(f"aggregator error element: {exc.message}") from None
                raise _refused(error, AggregatorStatus.describe, "aggregator")
            elif child.type not in (0x04, 0x05) and not child.non_critical:
                raise _bad_response(f"aggregator response has unknown element 0x{child.type:x}")

    def aggregator_config(self) -> AggregatorConfig:
        """Ask the aggregator for its configuration (round length, limits)."""
        endpoint = self._require(self._aggregator, "aggregator")
        body = functools.partial(self._aggregation_body, [], True)
        for element in self._post_pdus(endpoint, body, config=True):
            parsed = self._parse(element, AggregationResponsePDU, "aggregator")
            if parsed.config is not None:
                return parsed.config
        raise _bad_response("the aggregator sent no configuration")

    # -- extending ----------------------------------------------------------------------

    def _extend_exchange(
        self, requests: Sequence[ExtendRequest], config_request: bool
    ) -> tuple[dict[int, ExtendResponse], ExtenderConfig | None]:
        endpoint, body = self._extend_request(requests, config_request)
        return self._extend_answers(
            requests, self._post_pdus(endpoint, body, _ids(requests), config_request)
        )

    def _extend_request(
        self, requests: Sequence[ExtendRequest], config_request: bool
    ) -> tuple[_Endpoint, Callable[[], bytes]]:
        """The extender and the request body (made anew for every attempt)."""
        endpoint = self._require(self._extender, "extender")

        def body() -> bytes:  # a new message id for every attempt
            return encode_extend_request(
                requests,
                login_id=self._login_id,
                key=self._key,
                algorithm=self.algorithm,
                instance_id=self._instance_id,
                message_id=self._next_ids(1)[0],
                config_request=config_request,
            )

        return endpoint, body

    def _extend_answers(
        self, requests: Sequence[ExtendRequest], elements: Iterable[tlv.TLV]
    ) -> tuple[dict[int, ExtendResponse], ExtenderConfig | None]:
        """The checked extend responses (by request id) and the configuration, if any."""
        answers: dict[int, ExtendResponse] = {}
        config: ExtenderConfig | None = None
        for element in elements:
            parsed = self._parse(element, ExtendResponsePDU, "extender")
            config = parsed.config or config
            for resp in parsed.responses:
                if resp.request_id in answers:
                    raise _bad_response(f"extender answered request {resp.request_id} twice")
                answers[resp.request_id] = resp
        self._no_strangers(answers, _ids(requests))
        return answers, config

    def extender_config(self) -> ExtenderConfig:
        """Ask the extender for its configuration (calendar first and last time)."""
        _, config = self._extend_exchange([], True)
        if config is None:
            raise _bad_response("the extender sent no configuration")
        return config

    def extend_calendar(
        self, aggregation_time: int, publication_time: int | None = None
    ) -> CalendarChain:
        """A calendar chain from ``aggregation_time`` to ``publication_time`` (or the head).

        The chain's times (its time field and the time its shape proves) are
        checked against the request (SVC-04); its hashes are the
        verification policies' business. A refusal raises
        SVC-05 with the extender's status (e.g. 0x106, too new).
        """
        request = self._calendar_request(aggregation_time, publication_time)
        answers, _ = self._extend_exchange([request], False)
        return self._calendar_chain(request, answers)

    def _calendar_request(
        self, aggregation_time: int, publication_time: int | None
    ) -> ExtendRequest:
        (request_id,) = self._next_ids(1)
        return ExtendRequest(request_id, aggregation_time, publication_time)

    def _calendar_chain(
        self, request: ExtendRequest, answers: Mapping[int, ExtendResponse]
    ) -> CalendarChain:
        """The checked calendar chain answering ``request``."""
        request_id = request.request_id
        aggregation_time = request.aggregation_time
        publication_time = request.publication_time
        resp = self._answer(answers, request_id)
        if resp.status != 0:
            raise _refused(
                ErrorPayload(resp.status, resp.error_message), ExtenderStatus.describe, "extender"
            )
        chain = resp.calendar_chain
        if chain is None:
            raise _bad_response(f"extend response {request_id} has no calendar chain")
        if (
            chain.aggregation_time != aggregation_time
            or chain.time_from_shape() != aggregation_time
            or (publication_time is not None and chain.publication_time != publication_time)
        ):
            raise _bad_response(
                "the extender's chain does not span the requested times",
                aggregation_time=chain.aggregation_time,
                publication_time=chain.publication_time,
            )
        return chain

    def extend(self, signature: Signature, publication_time: int | None = None) -> Signature:
        """``signature`` extended to a publication (the nearest one by default).

        The target comes from the publications file (:meth:`publications_file`,
        verified when trust is configured). The extended chain must start
        from the signature's aggregation root and, for a publication in the
        file, end at its published hash (SVC-04 otherwise). A time that is
        not in the file gets a record built from the chain's root, checkable
        against a printed publication string for that time.
        """
        pubfile: PublicationsFile | None = None
        if publication_time is None or self._publications is not None:
            pubfile = self.publications_file(verify=self.trust_configured, refresh=True)
        record, when = self._extend_target(signature, pubfile, publication_time)
        chain = self.extend_calendar(signature.aggregation_time, when)
        return _extended(signature, chain, record, when)

    def _extend_target(
        self, signature: Signature, pubfile: PublicationsFile | None, publication_time: int | None
    ) -> tuple[PublicationRecord | None, int]:
        """The publication record (if in the file) and the time to extend ``signature`` to."""
        if publication_time is None:
            assert pubfile is not None
            record = pubfile.nearest_publication(signature.aggregation_time)
            if record is None:
                raise _error(
                    ErrorCode.SVC_NO_PUBLICATION, "no publication at or after the signing time yet"
                )
            return record, record.publication_time
        return (pubfile.find_publication(publication_time) if pubfile else None), publication_time

    # -- publications ----------------------------------------------------------------------

    def publications_file_bytes(self) -> bytes:
        """Download the publications file (no parsing, no checks)."""
        endpoint = self._require(self._publications, "publications file", pdu=False)
        status, data = self._exchange(endpoint, "GET", None)
        if status != 200:
            code = ErrorCode.SVC_UNAVAILABLE if status >= 500 else ErrorCode.SVC_BAD_RESPONSE
            raise _error(code, f"{endpoint.url}: HTTP {status}", http_status=status)
        return data

    def publications_file(self, *, verify: bool = True, refresh: bool = False) -> PublicationsFile:
        """The publications file, downloaded once and cached.

        With ``verify`` (the default) it must pass the configured
        ``publications_verifier``, or the CMS check against
        ``trust_anchors`` and ``cert_constraints``; with neither configured
        the file is refused (PKI-01). Without ``verify`` it is only parsed:
        :meth:`extend` uses it that way when no trust is configured, as it
        only picks a target, and verification decides trust later.
        """
        if self._pubfile is None or refresh:
            pubfile = PublicationsFile.parse(self.publications_file_bytes())
            if verify:
                self._verify_publications(pubfile)
            self._pubfile = pubfile
            self._pubfile_verified = verify
        elif verify and not self._pubfile_verified:
            self._verify_publications(self._pubfile)
            self._pubfile_verified = True
        return self._pubfile

    def _verify_publications(self, pubfile: PublicationsFile) -> None:
        if self._verifier is not None:
            self._verifier(pubfile)
            return
        pubfile.verify(trust_anchors=self._trust_anchors, constraints=self._constraints)

    @property
    def trust_configured(self) -> bool:
        """Whether downloaded publications files can be verified."""
        return self._verifier is not None or bool(self._trust_anchors and self._constraints)

    def trusted_publications_file(self) -> VerifiedPublicationsFile:
        """The publications file, verified (for :func:`jura_trust.verify`)."""
        pubfile = self.publications_file(verify=True)
        if self._verifier is not None:
            return VerifiedPublicationsFile.unchecked(
                pubfile, "checked by the configured publications_verifier"
            )
        return pubfile.trusted(self._trust_anchors, self._constraints)

    def latest_publication(self) -> PublicationRecord | None:
        """The most recent publication in the (verified) publications file."""
        return self.publications_file(verify=True, refresh=True).latest_publication()

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection this backend opened (in any thread)."""
        with self._connections_lock:
            conns, self._all_connections = self._all_connections, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> KsiHttpBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _http_elements(endpoint: _Endpoint, status: int, data: bytes) -> list[tlv.TLV]:
    """The response PDUs in an HTTP answer (SVC-01 for a 5xx without one, else SVC-04)."""
    try:
        elements = [element for _, element in tlv.iter_sequence(data)]
    except FormatError:
        elements = []
    if not elements:
        if status >= 500:
            raise _error(
                ErrorCode.SVC_UNAVAILABLE,
                f"{endpoint.url}: HTTP {status} without a KSI response",
                http_status=status,
            )
        raise _bad_response(
            f"{endpoint.url}: HTTP {status}, and the body is not a KSI response",
            http_status=status,
        )
    return elements


class _StreamCollector:
    """When the answer to a request on a TCP stream is complete.

    Fed response PDUs one by one; :meth:`feed` says whether the exchange is
    over and whether the stream must be dropped (after an error or an
    unreadable answer, what else is in flight cannot be matched any more).
    Shared by the threaded client and :mod:`jura_trust.aio`.
    """

    def __init__(self, url: str, ids: frozenset[int], config: bool) -> None:
        self.url = url
        self.waiting = set(ids)
        self.config = config
        self.config_seen = False
        self.elements: list[tlv.TLV] = []
        self.total = 0

    def feed(self, raw: bytes) -> tuple[bool, bool]:
        """Add one PDU; return ``(done, drop_the_stream)``."""
        self.total += len(raw)
        if self.total > MAX_RESPONSE_SIZE:
            raise _bad_response(f"{self.url}: response larger than {MAX_RESPONSE_SIZE}")
        element = tlv.decode(raw)
        self.elements.append(element)
        try:
            children = element.children()
        except FormatError:
            children = []
        final = not children or children[0].type != 0x01
        for child in children:
            if child.type == 0x02:
                self.waiting.discard(_payload_id(child))
            elif child.type == 0x03:
                final = True
            elif child.type == 0x04:
                self.config_seen = True
        if final:
            return True, True
        return not self.waiting and (self.config_seen or not self.config), False


def _ids(requests: Sequence[AggregationRequest | ExtendRequest]) -> frozenset[int]:
    return frozenset(r.request_id for r in requests)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 65536))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _recv_pdu(sock: socket.socket) -> bytes:
    """One TLV element (a PDU) from the stream: its header, then its value."""
    head = _recv_exact(sock, 2)
    if head[0] & 0x80:
        length_bytes = _recv_exact(sock, 2)
        head += length_bytes
        length = int.from_bytes(length_bytes, "big")
    else:
        length = head[1]
    return head + _recv_exact(sock, length)


def _payload_id(payload: tlv.TLV) -> int:
    """A response payload's request id (-1 when unreadable)."""
    try:
        for child in payload.children():
            if child.type == 0x01:
                return tlv.decode_uint(child.value, what="request id")
    except FormatError:
        pass
    return -1


def _check_signature(signature: Signature, request: AggregationRequest) -> None:
    if signature.document_hash != request.request_hash:
        raise _bad_response(
            f"signature {request.request_id} is for another document hash",
            request_id=request.request_id,
        )
    if request.request_level > 0:
        # The client added the level to a relative correction (PDU v2), so the
        # correction is high enough by construction; what shows whether the
        # server built its tree with the level is the hashing: the chain must
        # reach the calendar chain's input.
        first = signature.aggregation_chains[0].links[0]
        cal = signature.calendar_chain
        try:
            root_ok = cal is None or signature.aggregation_root() == cal.input_hash
        except JuraError:
            root_ok = False
        if (
            signature.rfc3161_record is not None
            or first.level_correction < request.request_level
            or not root_ok
        ):
            raise _bad_response(
                f"signature {request.request_id} does not honour level {request.request_level}",
                request_id=request.request_id,
            )


_SIGNATURE_ITEMS = frozenset({0x801, 0x802, 0x803, 0x804, 0x805, 0x806})


def _child(data: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """(type, first byte, value start, end) of the child element at ``pos``, headers only.

    The bulk signer reads tens of thousands of payloads and chains a
    second: it reads their children's headers without making an element of
    each. A child that is truncated or overruns its parent raises FMT-01, as
    :func:`tlv.decode_sequence` does.
    """
    if end - pos < 2:
        raise FormatError("truncated TLV header", code=ErrorCode.FMT_TRUNCATED, offset=pos)
    b0 = data[pos]
    if b0 & 0x80:  # TLV16
        if end - pos < 4:
            raise FormatError("truncated TLV16 header", code=ErrorCode.FMT_TRUNCATED, offset=pos)
        typ = ((b0 & 0x1F) << 8) | data[pos + 1]
        start = pos + 4
        stop = start + ((data[pos + 2] << 8) | data[pos + 3])
    else:
        typ = b0 & 0x1F
        start = pos + 2
        stop = start + data[pos + 1]
    if stop > end:
        raise FormatError(
            f"TLV 0x{typ:x} declares more bytes than its parent holds",
            code=ErrorCode.FMT_TRUNCATED,
            offset=pos,
        )
    return typ, b0, start, stop


def _read_payload(element: tlv.TLV) -> tuple[int, _RawAnswer]:
    """Request id, status, message and KSI items of a response payload."""
    fields: dict[int, bytes] = {}
    spans: list[tuple[int, int, int, int, int]] = []
    data = element.value
    end = len(data)
    pos = 0
    try:
        while pos < end:
            typ, b0, start, stop = _child(data, pos, end)
            if typ in _SIGNATURE_ITEMS:
                spans.append((typ, b0, pos, start, stop))
            elif typ in (0x01, 0x04, 0x05):
                if typ in fields:
                    raise _bad_response(f"response payload repeats element 0x{typ:x}")
                fields[typ] = data[start:stop]
            elif not b0 & 0x40:  # not non-critical
                raise _bad_response(f"response payload has unknown element 0x{typ:x}")
            pos = stop
        if 0x01 not in fields:
            raise _bad_response("response payload lacks its request id")
        request_id = tlv.decode_uint(fields[0x01], what="request id")
        # An absent status reads as 0, as libksi reads it (jura_trust.pdu).
        status = tlv.decode_uint(fields[0x04], what="status") if 0x04 in fields else 0
        message = tlv.decode_utf8(fields[0x05], what="message") if 0x05 in fields else None
    except FormatError as exc:
        raise _bad_response(f"response payload is malformed: {exc.message}") from None
    return request_id, _RawAnswer(status, message, data, spans, _whole(spans))


def _whole(spans: Sequence[tuple[int, int, int, int, int]]) -> tuple[int, int] | None:
    """Where the items lie as one slice already in signature order, or ``None``.

    That is: one aggregation chain first, then calendar items (0x802-0x805)
    in type order, each starting where the one before ends. Their bytes
    joined in the order :func:`_assemble` puts them are then that slice.
    """
    if not spans or spans[0][0] != 0x801:
        return None
    last, stop = 0x801, spans[0][4]
    for typ, _, pos, _, end in spans[1:]:
        if pos != stop or not last <= typ <= 0x805 or typ == 0x801:
            return None
        last, stop = typ, end
    return spans[0][2], stop


def _chain_facts(chain: tlv.TLV) -> tuple[int, bytes]:
    """(chain-index length, input hash value) of an aggregation chain element.

    Reads the children's headers only (:func:`_child`), without making an
    element of each link.
    """
    data = chain.value
    end = len(data)
    pos = count = 0
    input_hash = b""
    while pos < end:
        typ, _, start, stop = _child(data, pos, end)
        if typ == 0x03:
            count += 1
        elif typ == 0x05:
            input_hash = data[start:stop]
        pos = stop
    return count, input_hash


def _chain_input(data: bytes, pos: int, end: int) -> bytes:
    """The input hash value of the chain whose value is ``data[pos:end]``.

    :func:`_chain_facts` without the count, reading every child's header in
    the loop itself (a chain has about 20); the same refusals (a TLV16 child,
    rare in a chain, and every malformed header go through :func:`_child`).
    """
    input_hash = b""
    while pos < end:
        b0 = data[pos]
        if b0 & 0x80 or end - pos < 2:
            typ, _, start, stop = _child(data, pos, end)
        else:
            start = pos + 2
            stop = start + data[pos + 1]
            if stop > end:
                _child(data, pos, end)  # raises FMT-01
            typ = b0 & 0x1F
        if typ == 0x05:
            input_hash = data[start:stop]
        pos = stop
    return input_hash


def _assemble(raw: _RawAnswer, request: AggregationRequest) -> bytes:
    """The signature bytes from a payload's items, after the document-hash check."""
    whole = raw.whole
    if whole is not None and not request.request_level:
        # The usual answer: the signature's value is one slice of the payload.
        _, _, _, start, stop = raw.spans[0]
        try:
            document_hash = _chain_input(raw.data, start, stop)
        except FormatError as exc:
            raise _bad_response(
                f"signature {request.request_id} is malformed: {exc.message}"
            ) from None
        if not _hmac.compare_digest(document_hash, request.request_hash.value):
            raise _bad_response(
                f"signature {request.request_id} is for another document hash",
                request_id=request.request_id,
            )
        n = whole[1] - whole[0]
        if tlv.MAX_TLV8_LENGTH < n <= tlv.MAX_TLV16_LENGTH:
            view = memoryview(raw.data)[whole[0] : whole[1]]
            return b"".join((_SIGNATURE_HEADER, n.to_bytes(2, "big"), view))
        return tlv.encode(0x800, raw.data[whole[0] : whole[1]])
    items = raw.items
    try:
        chains = [(_chain_facts(e), e) for e in items if e.type == 0x801]
        if len(chains) > 1:
            chains.sort(key=lambda fe: -fe[0][0])
    except FormatError as exc:
        raise _bad_response(f"signature {request.request_id} is malformed: {exc.message}") from None
    if not chains:
        raise _bad_response(f"response {request.request_id} carries no aggregation chain")
    rfc = [e for e in items if e.type == 0x806]
    if rfc:
        try:
            document = tlv.decode_sequence(rfc[0].value)
        except FormatError:
            document = []
        document_hash = next((c.value for c in document if c.type == 0x05), b"")
    else:
        document_hash = chains[0][0][1]
    if not _hmac.compare_digest(document_hash, request.request_hash.value):
        raise _bad_response(
            f"signature {request.request_id} is for another document hash",
            request_id=request.request_id,
        )
    chain_elements = [e for _, e in chains]
    if request.request_level:
        # PDU v2: the leaf chain's first link is relative to the request level.
        try:
            shifted = shift_first_link_level(chain_elements[0], request.request_level)
        except FormatError as exc:
            raise _bad_response(
                f"signature {request.request_id} cannot take level {request.request_level}: "
                f"{exc.message}",
                request_id=request.request_id,
            ) from None
        chain_elements[0] = tlv.decode(shifted)
    ordered = [
        *rfc,
        *chain_elements,
        *(e for t in (0x802, 0x803, 0x804, 0x805) for e in items if e.type == t),
    ]
    return tlv.encode(0x800, b"".join(e.raw for e in ordered))


#: The first two header bytes of a TLV16 signature element (type 0x800).
_SIGNATURE_HEADER = tlv.encode(0x800, bytes(tlv.MAX_TLV8_LENGTH + 1))[:2]


def _extended(
    signature: Signature,
    chain: CalendarChain,
    record: PublicationRecord | None,
    publication_time: int,
) -> Signature:
    """``signature`` with ``chain``, checked to lead from its root to the publication."""
    if record is None:
        record = PublicationRecord.build(PublicationData.build(publication_time, chain.root()))
    problem = check_extended_chain(
        chain,
        signing_time=signature.aggregation_chains[0].aggregation_time,
        aggregation_root=signature.aggregation_root(),
        publication=record.published_data,
    )
    if problem is not None:
        raise _bad_response(problem, publication_time=publication_time)
    return signature.extended(chain, record.with_type(0x803))
