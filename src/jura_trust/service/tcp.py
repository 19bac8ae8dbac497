"""Raw PDUs over TCP (``ksi+tcp://``) for the local KSI service (layer 10).

KSI clients (libksi's TCP client, ``ksi sign -S ksi+tcp://...``) write
request PDUs on a TCP stream one after another, with no framing beyond the
TLV header of each PDU, and read the response PDUs the same way. This
listener reads one PDU at a time, dispatches it by type (0x220 to the
aggregator, 0x320 to the extender) and hands it to
:meth:`Service.answer <jura_trust.service.app.Service.answer>`, the same
transport-independent handling the HTTP routes use: the same logins and
HMACs, size limit, rate limits and answers.

Per connection, PDUs are answered in the order they arrived (a client may
pipeline several; at most :data:`MAX_PIPELINE` are in progress at once).
Limits and timeouts:

* a connection that sends nothing for ``header_timeout`` seconds (between
  PDUs, or before the first) is closed;
* once a PDU has started, the rest of it must arrive within
  ``body_timeout`` seconds, or the connection gets a reduced error PDU
  (0x101) and is closed (a slow sender never holds a slot for long);
* a PDU larger than ``max_request_bytes`` is refused unread (reduced error,
  0x104 aggregator / 0x101 extender) and the connection closed;
* a PDU of any other type, or an unreadable one, gets a reduced error PDU
  (0x101) and the connection is closed: the stream cannot be trusted to be
  in sync any more;
* each answer is written PDU by PDU as it is produced, and must be taken by
  the client within ``write_timeout`` seconds, or the connection is closed
  and the answers still waiting for it are dropped (their answers in flight
  released);
* connections beyond ``max_connections`` (HTTP and TCP together) are closed
  at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Final

from jura_trust.service._wire import write_slices

if TYPE_CHECKING:
    from jura_trust.service.app import Answer, Endpoint, Service

__all__ = ["MAX_PIPELINE", "TcpListener"]

#: Most PDUs of one connection in progress at once (more wait to be read).
MAX_PIPELINE: Final = 64
_TLV16: Final = 0x80
_log = logging.getLogger("jura_trust.service")


class _StreamRefusedError(Exception):
    """The stream must be answered with a refusal and closed."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class TcpListener:
    """Serves :class:`Service`'s aggregator and extender over raw TCP."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._server: asyncio.Server | None = None
        self._readers: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port``; return the bound port."""
        self._server = await asyncio.start_server(self._connection, host, port, backlog=1024)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self, grace: float = 10.0) -> None:
        """Stop listening and reading; answer what was read, then close."""
        if self._server is not None:
            self._server.close()
        for task in list(self._readers):
            task.cancel()
        if self._connections:
            _, late = await asyncio.wait(list(self._connections), timeout=grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # -- one connection -----------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if not self.service.connection_opened():
            self.service.connection_closed()
            self.service.metrics.refusal("connections")
            writer.transport.abort()
            return
        self._connections.add(task)
        answers: asyncio.Queue[asyncio.Task[Answer] | Answer | None] = asyncio.Queue(MAX_PIPELINE)
        read_task = asyncio.create_task(self._read_loop(reader, answers))
        self._readers.add(read_task)
        try:
            await self._write_loop(writer, answers)
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read_task
            self._readers.discard(read_task)
            await _drop_waiting(answers)
            writer.close()
            try:
                async with asyncio.timeout(min(2.0, self.service.config.write_timeout)):
                    await writer.wait_closed()
            except (TimeoutError, OSError, ConnectionError):
                writer.transport.abort()  # what is left will never be read
            self._connections.discard(task)
            self.service.connection_closed()

    async def _write_loop(
        self,
        writer: asyncio.StreamWriter,
        answers: asyncio.Queue[asyncio.Task[Answer] | Answer | None],
    ) -> None:
        timeout = self.service.config.write_timeout
        while True:
            item = await answers.get()
            if item is None:
                return
            # A bare Answer is a refusal of the stream itself: close after it.
            answer = await item if isinstance(item, asyncio.Task) else item
            try:
                async with asyncio.timeout(timeout):
                    made = answer.made()
                    if made is not None:  # sealed when its round closed: one write
                        for part in write_slices(made):
                            writer.write(part)
                            await writer.drain()
                        answer.written()
                    else:
                        async for pdu in answer.pdus():
                            writer.write(pdu)
                            await writer.drain()
            except TimeoutError:
                self.service.metrics.refusal("write_timeout")
                return
            except (OSError, ConnectionError):
                return
            finally:
                answer.discard()
            if answer.close or not isinstance(item, asyncio.Task):
                return

    async def _read_loop(
        self,
        reader: asyncio.StreamReader,
        answers: asyncio.Queue[asyncio.Task[Answer] | Answer | None],
    ) -> None:
        try:
            while True:
                try:
                    endpoint, pdu, received = await self._read_pdu(reader)
                except _StreamRefusedError as refused:
                    await answers.put(refused.answer)
                    return
                if pdu is None:
                    return
                await answers.put(asyncio.create_task(self.service.answer(endpoint, pdu, received)))
        except (OSError, ConnectionError):
            return
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                answers.put_nowait(None)

    async def _read_pdu(self, reader: asyncio.StreamReader) -> tuple[Endpoint, bytes | None, float]:
        """The next PDU (``None`` at a clean end of stream), with its endpoint."""
        from jura_trust.service.app import ENDPOINTS  # noqa: PLC0415 - import cycle

        config = self.service.config
        aggregator = ENDPOINTS["aggregator"]
        try:
            async with asyncio.timeout(config.header_timeout):
                first = await reader.readexactly(2)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return aggregator, None, 0.0
            raise self._refuse(aggregator, 400, 0x101, "truncated PDU header") from None
        except TimeoutError:
            return aggregator, None, 0.0  # idle: close quietly
        received = time.time()
        pdu_type = ((first[0] & 0x1F) << 8 | first[1]) if first[0] & _TLV16 else first[0] & 0x1F
        endpoint = _endpoint_for(pdu_type)
        if endpoint is None:
            raise self._refuse(
                aggregator, 400, 0x101, f"0x{pdu_type:x} is not a request PDU type"
            ) from None
        try:
            async with asyncio.timeout(config.body_timeout):
                length_bytes = await reader.readexactly(2)
                length = int.from_bytes(length_bytes, "big")
                if 4 + length > config.max_request_bytes:
                    raise self._refuse(
                        endpoint,
                        413,
                        endpoint.too_large,
                        f"the PDU exceeds {config.max_request_bytes} bytes",
                    )
                value = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise self._refuse(endpoint, 400, 0x101, "truncated PDU") from None
        except TimeoutError:
            raise self._refuse(endpoint, 408, 0x101, "the PDU did not arrive in time") from None
        return endpoint, first + length_bytes + value, received

    def _refuse(
        self, endpoint: Endpoint, http_status: int, status: int, message: str
    ) -> _StreamRefusedError:
        return _StreamRefusedError(self.service.refusal(endpoint, http_status, status, message))


async def _drop_waiting(answers: asyncio.Queue[asyncio.Task[Answer] | Answer | None]) -> None:
    """Drop the answers a closed connection will never take (releasing their answers in flight)."""
    while not answers.empty():
        item = answers.get_nowait()
        if item is None:
            continue
        if isinstance(item, asyncio.Task):
            item.cancel()
            with contextlib.suppress(BaseException):  # cancelled or failed: nothing held
                answer = await item
                answer.discard()
            continue
        item.discard()


def _endpoint_for(pdu_type: int) -> Endpoint | None:
    from jura_trust.service.app import ENDPOINTS  # noqa: PLC0415 - import cycle

    for endpoint in ENDPOINTS.values():
        if endpoint.request_type == pdu_type:
            return endpoint
    return None
