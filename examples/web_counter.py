"""A web counter on asyncio: an upload endpoint returns the receipt, a check endpoint checks it.

* ``POST /upload`` (the document as the body): signs its hash and answers
  the receipt, a ``.ksig`` file (``application/octet-stream``);
* ``POST /check?receipt=<hex of the .ksig>`` (the document as the body):
  verifies document and receipt and answers JSON (``valid``, ``code``,
  ``signed_at``, ``rests_on``).

Signing never blocks the event loop: with a KSI service
(``JURA_TRUST_AGGREGATOR``, ``JURA_TRUST_LOGIN``, ``JURA_TRUST_KEY``) through
:class:`jura_trust.aio.AsyncKsiClient`; otherwise on an embedded backend
through :class:`jura_trust.aio.AsyncEmbeddedBackend`, which signs
concurrent uploads together (ten at once take one or two rounds, not ten
seconds).

Run ``python examples/web_counter.py --serve`` to serve on 127.0.0.1:8081;
without ``--serve`` it starts on a free port, uploads ten documents at once,
checks them and a forged one, and exits (tests/test_examples.py runs it).
Needs the ``aio`` extra (aiohttp).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from jura_trust import EmbeddedBackend, Imprint, Signature, verify
from jura_trust.aio import AsyncEmbeddedBackend, AsyncKsiClient

MAX_UPLOAD = 16 * 1024 * 1024


def make_app(home: Path) -> web.Application:
    """The application: a signer (a service, else the embedded backend) and two routes."""
    embedded = EmbeddedBackend(home)
    signer: Any
    if os.environ.get("JURA_TRUST_AGGREGATOR"):
        signer = AsyncKsiClient(
            aggregator=os.environ["JURA_TRUST_AGGREGATOR"],
            login=os.environ.get("JURA_TRUST_LOGIN"),
            key=os.environ.get("JURA_TRUST_KEY"),
        )
    else:
        signer = AsyncEmbeddedBackend(embedded)

    async def upload(request: web.Request) -> web.Response:
        document = await request.read()
        signature = await signer.sign(Imprint.hash(document))
        return web.Response(
            body=signature.encode(),
            content_type="application/octet-stream",
            headers={"Content-Disposition": 'attachment; filename="receipt.ksig"'},
        )

    async def check(request: web.Request) -> web.Response:
        document = await request.read()
        try:
            signature = Signature.from_bytes(bytes.fromhex(request.query.get("receipt", "")))
        except ValueError as exc:  # a jura_trust FormatError is a ValueError too
            return web.json_response({"valid": False, "error": str(exc)}, status=400)
        result = await asyncio.to_thread(
            verify, signature, document=document, backend=embedded, policy="key"
        )
        return web.json_response(
            {
                "valid": result.ok,
                "code": result.code.value if result.code else None,
                "message": result.message,
                "signed_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.aggregation_time or 0)
                )
                if result.ok
                else None,
                "rests_on": result.anchor.description if result.ok else None,
            }
        )

    async def close(_app: web.Application) -> None:
        if isinstance(signer, AsyncEmbeddedBackend):
            await signer.aclose()
        else:
            await signer.close()
            embedded.close()

    app = web.Application(client_max_size=MAX_UPLOAD)
    app.router.add_post("/upload", upload)
    app.router.add_post("/check", check)
    app.on_cleanup.append(close)
    return app


async def self_test(home: Path) -> int:
    """Serve on a free port, upload ten documents at once, check them; 0 when all is right."""
    runner = web.AppRunner(make_app(home))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        async with ClientSession() as http:

            async def upload(i: int) -> bytes:
                async with http.post(f"{base}/upload", data=b"form %d" % i) as resp:
                    resp.raise_for_status()
                    return await resp.read()

            started = time.monotonic()
            receipts = await asyncio.gather(*(upload(i) for i in range(10)))
            print(f"10 uploads signed in {time.monotonic() - started:.2f} s")
            rounds = {Signature.from_bytes(r).aggregation_time for r in receipts}
            print(f"  in {len(rounds)} round(s)")
            ok = True
            for i, receipt in enumerate(receipts):
                async with http.post(
                    f"{base}/check", params={"receipt": receipt.hex()}, data=b"form %d" % i
                ) as resp:
                    answer = await resp.json()
                ok &= answer["valid"] is True
            async with http.post(
                f"{base}/check", params={"receipt": receipts[0].hex()}, data=b"forged"
            ) as resp:
                forged = await resp.json()
            print(f"  all ten check: {ok}; a changed document: valid={forged['valid']}")
            ok &= forged["valid"] is False and len(rounds) <= 3
    finally:
        await runner.cleanup()
    return 0 if ok else 1


def main() -> int:
    if "--serve" in sys.argv:
        home = Path(os.environ.get("JURA_TRUST_HOME", "web-counter-home"))
        web.run_app(make_app(home), host="127.0.0.1", port=8081)
        return 0
    with tempfile.TemporaryDirectory(prefix="web-counter-") as tmp:
        return asyncio.run(self_test(Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
