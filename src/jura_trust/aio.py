"""asyncio API: sign and extend without blocking the event loop (layer 10).

* :class:`AsyncKsiClient` talks to a KSI service (HTTP with aiohttp, the
  ``aio`` extra, or ``ksi+tcp://`` with asyncio streams, standard library
  only). It builds and checks PDUs with the same code as the threaded
  :class:`~jura_trust.backends.ksi_http.KsiHttpBackend`: HMAC on every
  request and response, request ids (SVC-10), each signature's document
  hash, levels above 0 (the relative correction of PDU v2 made absolute),
  the size limits and the extender's chain times.
* :class:`AsyncEmbeddedBackend` wraps an
  :class:`~jura_trust.backends.memory.EmbeddedBackend`: every concurrent
  ``await sign(...)`` made while a round is being closed goes into the next
  round, and rounds are closed in a worker thread, never on the loop.

::

    async with AsyncKsiClient(
        aggregator="http://127.0.0.1:8080/aggregator",
        extender="http://127.0.0.1:8080/extender",
        publications="http://127.0.0.1:8080/publications.bin",
        login="anon", key=os.environ["JURA_TRUST_KEY"],
    ) as ksi:
        signature = await ksi.sign(Imprint.hash(data))
        many = await ksi.sign_many([Imprint.hash(d) for d in batch])  # one round
        later = await ksi.extend(signature)

An example web application: ``examples/web_counter.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jura_trust.backends.ksi_http import (
    MAX_RESPONSE_SIZE,
    KsiHttpBackend,
    _Endpoint,
    _extended,
    _http_elements,
    _ids,
    _StreamCollector,
)
from jura_trust.core import tlv
from jura_trust.core.hashing import DEFAULT_ALGORITHM, HashAlgorithm, Imprint
from jura_trust.errors import BackendError, ErrorCode, FormatError

if TYPE_CHECKING:
    from jura_trust import pki
    from jura_trust.backends.memory import EmbeddedBackend
    from jura_trust.core.chains import CalendarChain
    from jura_trust.core.signature import Signature
    from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile

__all__ = ["MISSING_EXTRA", "AsyncEmbeddedBackend", "AsyncKsiClient"]

#: The message when HTTP is asked for without aiohttp.
MISSING_EXTRA = "the asyncio HTTP client needs the 'aio' extra: pip install 'jura-trust[aio]'"
_REQUEST_HEADERS = {"Content-Type": "application/ksi-request", "User-Agent": "jura_trust-aio/1"}


def _failure(code: ErrorCode, endpoint: _Endpoint, message: str) -> BackendError:
    return BackendError(f"{endpoint.url}: {message}", code=code, details={"url": endpoint.url})


async def _read_pdu(reader: asyncio.StreamReader) -> bytes:
    """One TLV element (a PDU) from the stream: its header, then its value."""
    head = await reader.readexactly(2)
    if head[0] & 0x80:
        extra = await reader.readexactly(2)
        head += extra
        length = int.from_bytes(extra, "big")
    else:
        length = head[1]
    return head + await reader.readexactly(length)


class AsyncKsiClient:
    """A KSI service client for asyncio; an async context manager.

    Args:
        aggregator: the aggregator URL (``http(s)://`` or ``ksi+tcp://``).
        extender: the extender URL.
        publications: the publications file URL (``http(s)://``).
        login: the login id; ``key``: its HMAC key.
        timeout: seconds for each exchange (connect, send, answer).
        algorithm: the HMAC algorithm.
        trust_anchors: certificates the publications file's signer must
            chain to; ``cert_constraints``: subject constraints on it.

    One HTTP session (keep-alive) and one TCP stream per endpoint; exchanges
    on one TCP stream take turns (an asyncio lock). Errors are
    :class:`~jura_trust.errors.BackendError` with the codes of ``ksi_http``.
    """

    def __init__(
        self,
        aggregator: str | None = None,
        extender: str | None = None,
        publications: str | None = None,
        *,
        login: str | None = None,
        key: bytes | str | None = None,
        timeout: float = 10.0,
        algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
        trust_anchors: Sequence[pki.Certificate] = (),
        cert_constraints: Mapping[str, str] | None = None,
    ) -> None:
        # The threaded client builds and checks every PDU; only the I/O is ours.
        self._proto = KsiHttpBackend(
            aggregator,
            extender,
            publications,
            login=login,
            key=key,
            timeout=timeout,
            retries=0,
            algorithm=algorithm,
            trust_anchors=trust_anchors,
            cert_constraints=cert_constraints,
        )
        self.timeout = float(timeout)
        self._session: Any = None
        self._streams: dict[tuple[str, int], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def __aenter__(self) -> AsyncKsiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session and every TCP stream."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        for key in list(self._streams):
            await self._drop(key)

    # -- transport ----------------------------------------------------------------------

    def _http(self) -> Any:
        if self._session is None:
            try:
                import aiohttp  # noqa: PLC0415 - the optional 'aio' extra
            except ModuleNotFoundError:
                raise BackendError(MISSING_EXTRA, code=ErrorCode.SVC_CONFIG) from None
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _http_exchange(
        self, endpoint: _Endpoint, method: str, body: bytes | None
    ) -> tuple[int, bytes]:
        session = self._http()
        import aiohttp  # noqa: PLC0415 - loaded by _http()

        try:
            async with session.request(
                method,
                endpoint.url,
                data=body,
                headers=_REQUEST_HEADERS if body is not None else None,
            ) as response:
                data = await response.content.read(MAX_RESPONSE_SIZE + 1)
                status = int(response.status)
        except TimeoutError:
            raise _failure(
                ErrorCode.SVC_TIMEOUT, endpoint, f"no answer within {self.timeout:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _failure(
                ErrorCode.SVC_UNAVAILABLE, endpoint, f"{type(exc).__name__}: {exc}"
            ) from None
        if len(data) > MAX_RESPONSE_SIZE:
            raise _failure(
                ErrorCode.SVC_BAD_RESPONSE, endpoint, f"response larger than {MAX_RESPONSE_SIZE}"
            )
        return status, data

    async def _drop(self, key: tuple[str, int]) -> None:
        stream = self._streams.pop(key, None)
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()

    async def _tcp_exchange(
        self, endpoint: _Endpoint, body: bytes, ids: frozenset[int], config: bool
    ) -> list[tlv.TLV]:
        key = (endpoint.host, endpoint.port)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                async with asyncio.timeout(self.timeout):
                    if key not in self._streams:
                        self._streams[key] = await asyncio.open_connection(*key)
                    reader, writer = self._streams[key]
                    writer.write(body)
                    await writer.drain()
                    collector = _StreamCollector(endpoint.url, ids, config)
                    while True:
                        done, drop = collector.feed(await _read_pdu(reader))
                        if drop:
                            await self._drop(key)
                        if done:
                            return collector.elements
            except TimeoutError:
                await self._drop(key)
                raise _failure(
                    ErrorCode.SVC_TIMEOUT, endpoint, f"no answer within {self.timeout:g} s"
                ) from None
            except BackendError:
                await self._drop(key)
                raise
            except (OSError, asyncio.IncompleteReadError, FormatError) as exc:
                await self._drop(key)
                raise _failure(
                    ErrorCode.SVC_UNAVAILABLE, endpoint, f"{type(exc).__name__}: {exc}"
                ) from None

    async def _post(
        self,
        endpoint: _Endpoint,
        body: Callable[[], bytes],
        ids: frozenset[int],
        config: bool = False,
    ) -> list[tlv.TLV]:
        # one attempt: a new body (new message ids) is made for it
        data_out = body()
        if endpoint.tcp:
            return await self._tcp_exchange(endpoint, data_out, ids, config)
        status, data = await self._http_exchange(endpoint, "POST", data_out)
        return _http_elements(endpoint, status, data)

    # -- signing ------------------------------------------------------------------------

    async def sign(self, imprint: Imprint, *, level: int = 0) -> Signature:
        """Sign one imprint (``level``: its height in a local tree)."""
        return (await self.sign_many([imprint], level=level))[0]

    async def sign_many(self, imprints: Sequence[Imprint], *, level: int = 0) -> list[Signature]:
        """Sign every imprint in one exchange (so, normally, in one round), in order."""
        if not imprints:
            return []
        endpoint, requests, body = self._proto._sign_request(imprints, level)
        elements = await self._post(endpoint, body, _ids(requests))
        return self._proto._signatures(requests, elements, level)

    # -- extending ----------------------------------------------------------------------

    async def extend_calendar(
        self, aggregation_time: int, publication_time: int | None = None
    ) -> CalendarChain:
        """A calendar chain from ``aggregation_time`` to ``publication_time`` (checked times)."""
        request = self._proto._calendar_request(aggregation_time, publication_time)
        endpoint, body = self._proto._extend_request([request], False)
        elements = await self._post(endpoint, body, _ids([request]))
        answers, _ = self._proto._extend_answers([request], elements)
        return self._proto._calendar_chain(request, answers)

    async def extend(self, signature: Signature, publication_time: int | None = None) -> Signature:
        """``signature`` extended to a publication (the nearest one in the file by default)."""
        pubfile: PublicationsFile | None = None
        if publication_time is None or self._proto._publications is not None:
            pubfile = await self.publications_file(verify=self._proto.trust_configured)
        record, when = self._proto._extend_target(signature, pubfile, publication_time)
        chain = await self.extend_calendar(signature.aggregation_time, when)
        return _extended(signature, chain, record, when)

    # -- publications ---------------------------------------------------------------------

    async def publications_file_bytes(self) -> bytes:
        """Download the publications file (no parsing, no checks)."""
        endpoint = self._proto._require(self._proto._publications, "publications file", pdu=False)
        status, data = await self._http_exchange(endpoint, "GET", None)
        if status != 200:
            code = ErrorCode.SVC_UNAVAILABLE if status >= 500 else ErrorCode.SVC_BAD_RESPONSE
            raise _failure(code, endpoint, f"HTTP {status}")
        return data

    async def publications_file(self, *, verify: bool = True) -> PublicationsFile:
        """The publications file, downloaded.

        With ``verify``, checked against the trust anchors (PKI-01 when none
        are configured); the CMS check runs in a worker thread.
        """
        from jura_trust.publications import PublicationsFile  # noqa: PLC0415

        pubfile = PublicationsFile.parse(await self.publications_file_bytes())
        if verify:
            await asyncio.to_thread(self._proto._verify_publications, pubfile)
        return pubfile

    async def trusted_publications_file(self) -> VerifiedPublicationsFile:
        """The publications file, verified, for :class:`~jura_trust.trust.TrustConfig`."""
        pubfile = await self.publications_file(verify=False)
        return await asyncio.to_thread(
            pubfile.trusted, self._proto._trust_anchors, self._proto._constraints
        )


class AsyncEmbeddedBackend:
    """An :class:`~jura_trust.backends.memory.EmbeddedBackend` for asyncio.

    ``await sign(imprint)`` never blocks the loop: requests are queued, and
    one task closes rounds in a worker thread, each round taking every
    request queued while the previous one was being closed. Ten concurrent
    uploads are signed in one or two rounds, not ten.
    """

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self._pending: list[tuple[Imprint, int, asyncio.Future[Signature]]] = []
        self._worker: asyncio.Task[None] | None = None
        #: Rounds closed for :meth:`sign` calls (for tests and metrics).
        self.rounds = 0

    async def __aenter__(self) -> AsyncEmbeddedBackend:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Wait for queued requests, then close the backend (in a thread)."""
        if self._worker is not None:
            await asyncio.shield(self._worker)
        await asyncio.to_thread(self.backend.close)

    async def sign(self, imprint: Imprint, *, level: int = 0) -> Signature:
        """Sign one imprint in the next round (shared with concurrent callers)."""
        if not isinstance(imprint, Imprint):
            raise TypeError("imprint must be an Imprint")
        future: asyncio.Future[Signature] = asyncio.get_running_loop().create_future()
        self._pending.append((imprint, level, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._close_rounds())
        return await future

    async def _close_rounds(self) -> None:
        from jura_trust.backends.memory import RoundRequest  # noqa: PLC0415

        while self._pending:
            batch, self._pending = self._pending, []
            requests = [RoundRequest(imprint, level) for imprint, level, _ in batch]
            try:
                closed = await asyncio.to_thread(self.backend.aggregate, requests)
            except Exception as exc:  # every caller of the round gets its error
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.rounds += 1
            for (_, _, future), signature in zip(batch, closed.signatures, strict=True):
                if not future.done():
                    future.set_result(signature)

    async def sign_many(self, imprints: Sequence[Imprint], *, level: int = 0) -> list[Signature]:
        """Sign every imprint in one round (in a worker thread)."""
        return await asyncio.to_thread(self.backend.sign_many, imprints, level=level)

    async def extend(self, signature: Signature, publication_time: int | None = None) -> Signature:
        """``signature`` extended to a publication (in a worker thread)."""
        return await asyncio.to_thread(self.backend.extend, signature, publication_time)

    async def trusted_publications_file(self, at: int | None = None) -> VerifiedPublicationsFile:
        """The backend's publications file, verified (in a worker thread)."""
        return await asyncio.to_thread(self.backend.trusted_publications_file, at)
