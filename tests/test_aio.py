"""Issue 11 item 1: jura_trust.aio, an asyncio client (HTTP and TCP) and the embedded wrapper."""

from __future__ import annotations

import asyncio
import time

import pytest

from jura_trust import pki
from jura_trust.aio import AsyncEmbeddedBackend, AsyncKsiClient
from jura_trust.backends.memory import PUBLISHER_EMAIL, EmbeddedBackend
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.trust import TrustConfig, Verifier

pytest.importorskip("aiohttp")


def _client(service, *, via: str = "http", key: str | None = None) -> AsyncKsiClient:
    base = service.tcp_url if via == "tcp" else service.url
    aggregator = base if via == "tcp" else service.aggregator
    extender = base if via == "tcp" else service.extender
    return AsyncKsiClient(
        aggregator=aggregator,
        extender=extender,
        publications=service.publications,
        login=service.login,
        key=key or service.key,
        trust_anchors=[pki.load_certificate(service.publisher_certificate())],
        cert_constraints={"E": PUBLISHER_EMAIL},
    )


@pytest.mark.parametrize("via", ["http", "tcp"])
def test_async_client_signs_one_and_many_in_one_round_and_extends(ksi_service, via):
    async def scenario():
        async with _client(ksi_service, via=via) as ksi:
            one = await ksi.sign(Imprint.hash(b"upload"))
            many = await ksi.sign_many([Imprint.hash(b"doc %d" % i) for i in range(20)])
            deadline = time.monotonic() + 20
            while True:  # the service publishes every 2 s
                try:
                    extended = await ksi.extend(one)
                    break
                except BackendError as exc:
                    if exc.code is not ErrorCode.SVC_NO_PUBLICATION or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
            pubfile = await ksi.trusted_publications_file()
        return one, many, extended, pubfile

    one, many, extended, pubfile = asyncio.run(scenario())
    assert one.document_hash == Imprint.hash(b"upload")
    assert [s.document_hash for s in many] == [Imprint.hash(b"doc %d" % i) for i in range(20)]
    assert len({s.aggregation_time for s in many}) == 1  # one exchange, one round
    assert extended.is_extended
    trust = TrustConfig.from_files().evolve(publications_file=pubfile)
    result = Verifier(trust).verify(
        extended, document_hash=Imprint.hash(b"upload"), policy="publications-file"
    )
    assert result.ok, result


@pytest.mark.parametrize("via", ["http", "tcp"])
def test_async_client_checks_the_response_hmac(ksi_service, via):
    async def scenario():
        async with _client(ksi_service, via=via, key="not-the-key") as ksi:
            await ksi.sign(Imprint.hash(b"x"))

    with pytest.raises(BackendError) as caught:
        asyncio.run(scenario())
    assert caught.value.code in (ErrorCode.SVC_AUTH, ErrorCode.SVC_REFUSED)


def test_async_client_level_above_zero_is_made_absolute(ksi_service):
    async def scenario():
        async with _client(ksi_service) as ksi:
            return await ksi.sign(Imprint.hash(b"local tree root"), level=3)

    sig = asyncio.run(scenario())
    assert sig.aggregation_chains[0].links[0].level_correction >= 3


def test_async_client_unreachable_service_is_svc_01():
    async def scenario():
        async with AsyncKsiClient(
            aggregator="ksi+tcp://127.0.0.1:9", login="a", key="b", timeout=2
        ) as ksi:
            await ksi.sign(Imprint.hash(b"x"))

    with pytest.raises(BackendError) as caught:
        asyncio.run(scenario())
    assert caught.value.code in (ErrorCode.SVC_UNAVAILABLE, ErrorCode.SVC_TIMEOUT)


def test_async_embedded_backend_batches_concurrent_calls_without_blocking_the_loop():
    backend = EmbeddedBackend()

    async def scenario():
        wrapper = AsyncEmbeddedBackend(backend)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick = asyncio.create_task(ticker())
        started = time.monotonic()
        sigs = await asyncio.gather(
            *(wrapper.sign(Imprint.hash(b"upload %d" % i)) for i in range(10))
        )
        elapsed = time.monotonic() - started
        tick.cancel()
        await wrapper.aclose()
        return sigs, wrapper.rounds, ticks, elapsed

    sigs, rounds, ticks, elapsed = asyncio.run(scenario())
    assert [s.document_hash for s in sigs] == [Imprint.hash(b"upload %d" % i) for i in range(10)]
    assert rounds <= 2  # not ten: concurrent calls share rounds
    assert len({s.aggregation_time for s in sigs}) == rounds
    assert ticks >= 1 or elapsed < 0.05  # the loop kept running while rounds closed
