"""The residents' verification page and its JSON API (layer 10).

Routes (added to the service's application by :meth:`ResidentPage.install`):

* ``GET /``: the page, in French unless ``?lang=de|en`` or the browser's
  ``Accept-Language`` asks otherwise (texts from gettext catalogues,
  :mod:`~jura_trust.service.i18n`);
* ``GET /static/NAME``: the page's script, style sheet and the vendored
  QR decoder, from the package (nothing is loaded from elsewhere);
* ``POST /api/v1/verify``: ``{"signature": BASE64, "document_hash":
  "ALG:HEX"}``: a receipt (``.ksig``) checked against a document hash
  the browser computed (the document never leaves the device);
* ``POST /api/v1/verify-qr``: ``{"text": TEXT}``: a certificate text;
* ``POST /api/v1/verify-qr-image``: the raw bytes of a photo
  (``Content-Type: image/...``), decoded here with zxing-cpp, then
  verified as ``verify-qr``.

Every answer is JSON; a malformed request gets HTTP 400, an oversized one
413, a client over its rate 429 and a full queue 503, each with
``{"error": {"code", "message"}}``. Receipts are verified by the trust
module's :class:`~jura_trust.trust.Verifier` under the service's own trust
(its publications file, checked against its publisher certificate, and its
calendar as extender), certificates by the same verifier with the
configured JT1 trust list, seal registry and revocation list.

Nothing a client sends is logged or stored; responses carry a strict
Content-Security-Policy (``'self'`` only, no inline script), no cookie,
and ``Cache-Control: no-store`` for the API. Reference: docs/residents.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import io
import ipaddress
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jura_trust.certificates._json import json_safe
from jura_trust.certificates.registry import open_registry
from jura_trust.certificates.report import certificate_report
from jura_trust.certificates.trustlist import verify_revocation_list, verify_trust_list
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, JuraError, Outcome
from jura_trust.service.auth import TokenBucket
from jura_trust.service.config import PageConfig
from jura_trust.service.i18n import catalogue, negotiate
from jura_trust.trust import TrustConfig, Verifier

if TYPE_CHECKING:
    from jura_trust.backends.memory import EmbeddedBackend

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PROBLEMS",
    "SCRIPT_MESSAGES",
    "SECURITY_HEADERS",
    "ClientLimiter",
    "ResidentPage",
    "problem_of",
]

_log = logging.getLogger("jura_trust.service.page")

#: The page's Content-Security-Policy: only the service's own origin, no
#: inline script or style, no frames, no form posts elsewhere.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: Headers on every answer of the page and its API.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
}

_STATIC_DIR: Final = Path(__file__).parent / "static"
#: Files served under /static/, with their content types (nothing else is).
_STATIC: Final = {
    "page.js": "text/javascript",
    "page.css": "text/css",
    "jsQR.js": "text/javascript",
}
_TEMPLATE: Final = "page.html"
_MARKER: Final = re.compile(r"\{\{(\$?)(.+?)\}\}", re.DOTALL)
_MAX_TEXT: Final = 16_384
_MAX_PENDING: Final = 16
_IMAGE_COST: Final = 5
_MAX_CLIENTS: Final = 4096

#: What is wrong with a certificate, by error code, in the page's words
#: (the page shows one sentence per problem; see docs/residents.md).
PROBLEMS: Final[Mapping[str, str]] = {
    ErrorCode.CRT_BAD_PREFIX.value: "unreadable",
    ErrorCode.CRT_BAD_ENCODING.value: "unreadable",
    ErrorCode.CRT_BAD_COMPRESSION.value: "unreadable",
    ErrorCode.CRT_BAD_STRUCTURE.value: "unreadable",
    ErrorCode.CRT_TOO_LARGE.value: "unreadable",
    ErrorCode.CRT_UNKNOWN_ISSUER.value: "unknown-issuer",
    ErrorCode.CRT_ISSUER_MISMATCH.value: "unknown-issuer",
    ErrorCode.CRT_TYPE_NOT_ALLOWED.value: "unknown-issuer",
    ErrorCode.CRT_KEY_NOT_VALID.value: "unknown-issuer",
    ErrorCode.CRT_KEY_USAGE.value: "unknown-issuer",
    ErrorCode.CRT_BAD_SIGNATURE.value: "altered",
    ErrorCode.CRT_PATH_MISMATCH.value: "altered",
    ErrorCode.CRT_KSI_INVALID.value: "altered",
    ErrorCode.CRT_ALGORITHM_MISMATCH.value: "altered",
    ErrorCode.CRT_UNSUPPORTED_ALGORITHM.value: "altered",
    ErrorCode.CRT_SEAL_NOT_FOUND.value: "seal-not-found",
    ErrorCode.CRT_REVOKED.value: "revoked",
    ErrorCode.CRT_EXPIRED.value: "expired",
    ErrorCode.CRT_NOT_YET_VALID.value: "not-yet-valid",
    ErrorCode.CRT_TRUST_LIST_INVALID.value: "not-verifiable",
    ErrorCode.CRT_TRUST_NOT_CONFIGURED.value: "not-verifiable",
}


def problem_of(outcome: str | None, code: str | None) -> str | None:
    """The page's word for what is wrong (``None`` when valid).

    An inconclusive result (NA) is always ``not-verifiable``: the page
    never calls a certificate forged when it could only not be checked.
    """
    if outcome == Outcome.OK.value:
        return None
    if outcome == Outcome.NA.value:
        return "not-verifiable"
    return PROBLEMS.get(code or "", "not-verifiable" if outcome is None else "altered")


class _ApiError(Exception):
    """A refused API request: its HTTP status, code and message."""

    def __init__(
        self, status: int, code: ErrorCode, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class ClientLimiter:
    """Rate limits for anonymous clients: one token bucket per address, one for all.

    A client is its IPv4 address or its IPv6 /64 (one household's
    prefix); at most ``max_clients`` buckets are kept, the least recently
    used dropped first (the shared bucket still bounds the total).
    """

    def __init__(
        self,
        config: PageConfig,
        *,
        now: Callable[[], float] = time.monotonic,
        max_clients: int = _MAX_CLIENTS,
    ) -> None:
        self._config = config
        self._now = now
        self._max = max_clients
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, TokenBucket] = OrderedDict()
        self._total = TokenBucket(config.total_rate, config.total_burst, now())

    @staticmethod
    def client_key(address: str) -> str:
        """The bucket a client address belongs to (``?`` for an unreadable one)."""
        try:
            ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
        except ValueError:
            return "?"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)

    def allow(self, address: str, cost: int = 1) -> bool:
        """Take ``cost`` tokens from the client's bucket and the shared one."""
        key = self.client_key(address)
        now = self._now()
        with self._lock:
            bucket = self._clients.get(key)
            if bucket is None:
                bucket = TokenBucket(self._config.client_rate, self._config.client_burst, now)
                self._clients[key] = bucket
                while len(self._clients) > self._max:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(key)
            if not bucket.take(cost, now):
                return False
            return self._total.take(cost, now)

    def retry_after(self) -> int:
        """Seconds a refused client should wait (one token at its rate)."""
        return max(1, int(1 / self._config.client_rate + 0.999))


def _root_key(path: Path) -> Any:
    """A trust root's public key from a PEM public key or certificate (as ``qr verify``)."""
    data = path.read_bytes()
    key: Any = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"CERTIFICATE" in data
        else serialization.load_pem_public_key(data)
    )
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise ValueError(f"{path}: unsupported trust root key type")
    return key


def _iso(t: int | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Jt1Trust:
    """The JT1 trust material, re-read when one of its files changes."""

    def __init__(self, config: PageConfig) -> None:
        self._config = config
        self._stamp: tuple[Any, ...] | None = None
        self.trust_list: Any = None
        self.revocations: Any = None
        self.seals: Any = None
        self.problem: str | None = None

    @staticmethod
    def _stat(path: Path | None) -> tuple[int, int] | None:
        if path is None:
            return None
        try:
            st = path.stat()
        except OSError:
            return (-1, -1)
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Re-read the files if they changed; whether anything was re-read."""
        c = self._config
        if c.qr_trust_list is None:
            self.problem = "no JT1 trust list is configured for this service"
            return False
        stamp = (
            self._stat(c.qr_trust_list),
            self._stat(c.qr_revocations),
            *(self._stat(p) for p in c.qr_trust_roots),
        )
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self.trust_list = self.revocations = None
        now = datetime.now(UTC)
        try:
            roots = [_root_key(p) for p in c.qr_trust_roots]
            self.trust_list = verify_trust_list(c.qr_trust_list.read_bytes(), roots, at=now)
            if c.qr_revocations is not None:
                self.revocations = verify_revocation_list(
                    c.qr_revocations.read_bytes(), roots, at=now
                )
            if self.seals is None and c.qr_seals is not None:
                self.seals = open_registry(c.qr_seals)
        except (JuraError, OSError, ValueError) as exc:
            self.trust_list = self.revocations = None
            self.problem = f"the JT1 trust material cannot be used: {exc}"
            _log.warning("residents' page: %s", self.problem)
            return True
        self.problem = None
        return True


class ResidentPage:
    """The residents' page and its JSON API, on one service's backend."""

    def __init__(
        self, backend: EmbeddedBackend, config: PageConfig, *, body_timeout: float
    ) -> None:
        self.backend = backend
        self.config = config
        self.body_timeout = body_timeout
        self.limiter = ClientLimiter(config)
        self._jt1 = _Jt1Trust(config)
        self._lock = threading.Lock()
        self._verifier: Verifier | None = None
        self._verifier_source: object = None
        self._pending = 0
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="jura-trust-page")
        self._pages: dict[str, bytes] = {}
        self._static = {name: (_STATIC_DIR / name).read_bytes() for name in _STATIC}
        self._template = (_STATIC_DIR / _TEMPLATE).read_text(encoding="utf-8")

    # -- wiring -------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Add the routes to ``app`` (and stop the worker threads on its cleanup)."""
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static_file)
        app.router.add_post("/api/v1/verify", self._api(self._verify))
        app.router.add_post("/api/v1/verify-qr", self._api(self._verify_qr))
        app.router.add_post("/api/v1/verify-qr-image", self._api(self._verify_qr_image))

        async def cleanup(_: web.Application) -> None:
            self._pool.shutdown(wait=True)

        app.on_cleanup.append(cleanup)

    def verifier(self) -> Verifier:
        """The verifier of the service's current trust (rebuilt when it changes).

        The trust is the service's own: its publications file verified
        against its publisher certificate, its calendar as extender, and the
        configured JT1 trust list.
        """
        with self._lock:
            reread = self._jt1.refresh()
            source = self.backend.publications_file_bytes
            if self._verifier is None or reread or source is not self._verifier_source:
                trust = TrustConfig.from_backend(self.backend, name="this service's calendar")
                if self._jt1.trust_list is not None:
                    trust = trust.evolve(trust_list=self._jt1.trust_list)
                self._verifier = Verifier(trust)
                self._verifier_source = source
            return self._verifier

    # -- the page -----------------------------------------------------------------------

    def render(self, language: str) -> bytes:
        """The page in ``language`` (cached)."""
        found = self._pages.get(language)
        if found is not None:
            return found
        tr = catalogue(language)

        def fill(match: re.Match[str]) -> str:
            special, text = match.group(1), " ".join(match.group(2).split())
            if not special:
                return html.escape(tr.gettext(text))
            if text == "lang":
                return language
            if text == "messages":
                messages = {key: tr.gettext(msg) for key, msg in SCRIPT_MESSAGES.items()}
                # Inside <script> nothing is unescaped: keep <, > and & out of the JSON.
                data = json.dumps(messages, ensure_ascii=True)
                for char in "<>&":
                    data = data.replace(char, f"\\u{ord(char):04x}")
                return data
            if text.startswith("current "):
                return "page" if text.removeprefix("current ") == language else "false"
            raise ValueError(f"unknown template marker {text!r}")

        page = _MARKER.sub(fill, self._template).encode("utf-8")
        self._pages[language] = page
        return page

    async def _page(self, request: web.Request) -> web.Response:
        language = negotiate(request.query.get("lang"), request.headers.get("Accept-Language"))
        resp = web.Response(body=self.render(language), content_type="text/html", charset="utf-8")
        resp.headers["Content-Language"] = language
        resp.headers["Vary"] = "Accept-Language"
        resp.headers["Cache-Control"] = "no-cache"
        return _secure(resp)

    async def _static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            return _secure(web.Response(status=404, text="not found"))
        resp = web.Response(body=self._static[name], content_type=_STATIC[name], charset="utf-8")
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return _secure(resp)

    # -- the API ------------------------------------------------------------------------

    def _api(
        self, handler: Callable[[web.Request], Awaitable[dict[str, Any]]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            try:
                body = await handler(request)
                status = 200
            except _ApiError as exc:
                status = exc.status
                body = {"error": {"code": exc.code.value, "message": exc.message}}
                resp = _json(status, body)
                if exc.retry_after is not None:
                    resp.headers["Retry-After"] = str(exc.retry_after)
                if status == 413:
                    resp.force_close()
                return resp
            except web.HTTPException:
                raise
            except Exception as exc:  # never a traceback to a resident, never their data in a log
                _log.error("residents' page: internal error (%s)", type(exc).__name__)
                return _json(
                    500,
                    {
                        "error": {
                            "code": ErrorCode.SVC_API_INTERNAL.value,
                            "message": "internal error",
                        }
                    },
                )
            return _json(status, body)

        return run

    def _admit(self, request: web.Request, cost: int) -> None:
        address = request.remote or "?"
        if self.config.forwarded_for:
            # The proxy's entry is the last of the last line: a proxy may append
            # a line of its own after the client's (the first line is the client's).
            lines = request.headers.getall("X-Forwarded-For", [])
            if lines:
                address = lines[-1].rsplit(",", 1)[-1].strip()
        if not self.limiter.allow(address, cost):
            raise _ApiError(
                429,
                ErrorCode.SVC_API_BUSY,
                "too many requests from this address: wait a moment",
                retry_after=self.limiter.retry_after(),
            )

    async def _read(self, request: web.Request, limit: int) -> bytes:
        if request.content_length is not None and request.content_length > limit:
            raise _ApiError(
                413, ErrorCode.SVC_API_TOO_LARGE, f"the request body exceeds {limit} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    chunk = await request.content.read(65_536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise _ApiError(
                            413,
                            ErrorCode.SVC_API_TOO_LARGE,
                            f"the request body exceeds {limit} bytes",
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, "the request body did not arrive in time"
            ) from None
        return b"".join(chunks)

    async def _json_body(self, request: web.Request, fields: set[str]) -> dict[str, str]:
        if request.content_type != "application/json":
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, "send a JSON object (application/json)"
            )
        data = await self._read(request, self.config.max_json_bytes)
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, "the body is not valid JSON"
            ) from None
        if not isinstance(obj, dict):
            raise _ApiError(400, ErrorCode.SVC_API_BAD_REQUEST, "the body must be a JSON object")
        if set(obj) != fields:
            raise _ApiError(
                400,
                ErrorCode.SVC_API_BAD_REQUEST,
                f"the object must have exactly the fields {', '.join(sorted(fields))}",
            )
        for key in fields:
            if not isinstance(obj[key], str):
                raise _ApiError(400, ErrorCode.SVC_API_BAD_REQUEST, f"{key} must be a string")
        return obj

    async def _work(self, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        """Run ``fn`` on the page's worker threads, refusing when the queue is full."""
        if self._pending >= _MAX_PENDING:
            raise _ApiError(
                503, ErrorCode.SVC_API_BUSY, "the service is busy: try again", retry_after=2
            )
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1

    # -- receipts -----------------------------------------------------------------------

    async def _verify(self, request: web.Request) -> dict[str, Any]:
        self._admit(request, 1)
        obj = await self._json_body(request, {"signature", "document_hash"})
        try:
            raw = base64.b64decode(obj["signature"], validate=True)
        except (binascii.Error, ValueError):
            raise _ApiError(400, ErrorCode.SVC_API_BAD_REQUEST, "signature is not base64") from None
        try:
            imprint = Imprint.parse(obj["document_hash"])
        except JuraError as exc:
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, f"document_hash: {exc.message}"
            ) from None
        if not obj["document_hash"].strip().partition(":")[1]:
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, "document_hash must be ALGORITHM:HEX"
            )
        try:
            signature = Signature.from_bytes(raw)
        except JuraError as exc:
            raise _ApiError(
                400,
                ErrorCode.SVC_API_BAD_REQUEST,
                f"signature is not a KSI signature ({exc.code.value}: {exc.message})",
            ) from None
        return await self._work(self._check_receipt, signature, imprint)

    def _check_receipt(self, signature: Signature, imprint: Imprint) -> dict[str, Any]:
        try:
            result = self.verifier().verify(signature, document_hash=imprint)
        except JuraError as exc:
            return {
                "valid": False,
                "outcome": Outcome.NA.value,
                "code": exc.code.value,
                "reason": exc.message,
                "aggregation_time": None,
                "issuer": None,
                "anchor": None,
                "document_hash_algorithm": signature.document_hash.algorithm.ksi_name,
            }
        return {
            "valid": result.ok,
            "outcome": result.outcome.value,
            "code": result.code.value if result.code else None,
            "reason": result.message,
            "aggregation_time": _iso(result.aggregation_time),
            "issuer": list(signature.issuer) if result.ok else None,
            "anchor": json_safe(result.anchor.as_dict()),
            "document_hash_algorithm": signature.document_hash.algorithm.ksi_name,
            "policy": result.policy,
        }

    # -- certificates -------------------------------------------------------------------

    async def _verify_qr(self, request: web.Request) -> dict[str, Any]:
        self._admit(request, 1)
        obj = await self._json_body(request, {"text"})
        text = obj["text"].strip()
        if not text or len(text) > _MAX_TEXT:
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, f"text must be 1..{_MAX_TEXT} characters"
            )
        return await self._work(self._check_text, text)

    async def _verify_qr_image(self, request: web.Request) -> dict[str, Any]:
        self._admit(request, _IMAGE_COST)
        if not request.content_type.startswith("image/"):
            raise _ApiError(
                400, ErrorCode.SVC_API_BAD_REQUEST, "send the photo's bytes as image/..."
            )
        data = await self._read(request, self.config.max_image_bytes)
        if not data:
            raise _ApiError(400, ErrorCode.SVC_API_BAD_REQUEST, "the photo is empty")
        return await self._work(self._check_image, data)

    def _check_image(self, data: bytes) -> dict[str, Any]:
        from jura_trust import qr  # noqa: PLC0415 - zxing-cpp and pillow are optional

        try:
            from PIL import Image  # noqa: PLC0415

            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
        except ModuleNotFoundError:
            return _not_verifiable(
                ErrorCode.SVC_CONFIG, "photos need the 'qr-read' extra on the service"
            )
        except Exception:  # pillow raises many types on bad or hostile images
            return _unreadable_image("the photo is not a readable image")
        if width * height > self.config.max_image_pixels:
            return _unreadable_image(
                f"the photo has more than {self.config.max_image_pixels} pixels"
            )
        try:
            texts = qr.read_qr(data)
        except JuraError as exc:
            if exc.code is ErrorCode.SVC_CONFIG:
                return _not_verifiable(exc.code, "photos need the 'qr-read' extra on the service")
            return _unreadable_image("the photo is not a readable image")
        if not texts:
            return _unreadable_image("no QR code was found in the photo")
        report = self._check_text(texts[0])
        report["decoded"] = len(texts)
        return report

    def _check_text(self, text: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        verifier = self.verifier()
        try:
            result = verifier.verify_certificate(
                text, at=now, seals=self._jt1.seals, revocations=self._jt1.revocations
            )
        except JuraError as exc:
            problem = (
                "unreadable" if PROBLEMS.get(exc.code.value) == "unreadable" else "not-verifiable"
            )
            trust_codes = (ErrorCode.CRT_TRUST_LIST_INVALID, ErrorCode.CRT_TRUST_NOT_CONFIGURED)
            if exc.code in trust_codes and self._jt1.problem:
                message = self._jt1.problem
            else:
                message = exc.message
            return {
                "valid": False,
                "outcome": None,
                "code": exc.code.value,
                "reason": message,
                "problem": problem,
                "issuer": None,
                "fields": None,
            }
        report = certificate_report(result, at=now)
        report["problem"] = problem_of(report["outcome"], report["code"])
        return report


SCRIPT_MESSAGES: Final[Mapping[str, str]] = {
    "checking": "Checking…",
    "hashing": "Computing the document's fingerprint on this device…",
    "need_both": "Choose both the document and its receipt (.ksig file).",
    "insecure_context": (
        "This browser computes fingerprints only on a secure (https) page. "
        "Open the page through https and try again."
    ),
    "intact_title": "The document is intact",
    "intact_text": "This document is exactly the one received on {date}.",
    "received_by": "Received by: {office}.",
    "rests_on": "What the proof rests on: {anchor}",
    "anchor_publication": (
        "the publication of {date} in the service's signed list of publications: the "
        "strongest proof, as it does not depend on any key staying secret."
    ),
    "anchor_calendar_key": (
        "the electronic signature of the time-stamping service's calendar ({subject})."
    ),
    "anchor_extender": "this service's calendar, checked just now.",
    "altered_title": "The document does not match this receipt",
    "altered_text": (
        "The document was changed after it was received, or it is not the document this "
        "receipt was issued for."
    ),
    "receipt_invalid_title": "This receipt is not valid",
    "receipt_invalid_text": "The receipt has been tampered with or damaged. Do not rely on it.",
    "receipt_na_title": "The receipt could not be confirmed",
    "receipt_na_text": (
        "The service could not confirm this receipt now. It is not necessarily false: "
        "try again later or ask the office."
    ),
    "not_a_receipt": "This file is not a receipt (.ksig) that the service can read.",
    "algorithm_unsupported": (
        "This receipt uses the {algorithm} fingerprint, which a web browser cannot compute. "
        "Check it with the jura-trust program instead."
    ),
    "code": "Code: {code}",
    "valid_title": "Valid certificate",
    "valid_issuer": "Issued by {issuer}.",
    "valid_time": "Sealed on {date}.",
    "valid_until": "Valid until {date}.",
    "invalid_title": "This certificate is not valid",
    "na_title": "This certificate cannot be checked",
    "problem_unknown-issuer": (
        "It was not issued by an authority this service trusts. Do not rely on what it says."
    ),
    "problem_altered": (
        "It has been altered or forged: its content does not match its seal. "
        "Do not rely on what it says."
    ),
    "problem_revoked": "The issuing office has revoked it. Ask the office for a new one.",
    "problem_expired": "It has expired. Ask the office for a new one.",
    "problem_not-yet-valid": "It is not valid yet.",
    "problem_seal-not-found": (
        "The issuer's record of this certificate cannot be found: it may be forged. "
        "Do not rely on what it says."
    ),
    "problem_unreadable": "This is not a certificate that this page can read.",
    "problem_not-verifiable": (
        "The service cannot check it right now. It is not necessarily false: "
        "try again later or ask the office."
    ),
    "no_fields": "None of its content is shown, because none of it is proven.",
    "fields_title": "Content of the certificate",
    "camera_unavailable": (
        "The camera cannot be used here. Take a photo of the code and choose it below instead."
    ),
    "camera_looking": "Point the camera at the code…",
    "camera_found": "Code found.",
    "busy": "Too many checks at once. Wait a moment and try again.",
    "network": "The service cannot be reached. Check your connection and try again.",
    "link_checking": "Checking the certificate from the link you opened…",
}


def _not_verifiable(code: ErrorCode, message: str) -> dict[str, Any]:
    return {
        "valid": False,
        "outcome": None,
        "code": code.value,
        "reason": message,
        "problem": "not-verifiable",
        "issuer": None,
        "fields": None,
    }


def _unreadable_image(message: str) -> dict[str, Any]:
    return {
        "valid": False,
        "outcome": None,
        "code": ErrorCode.CRT_BAD_PREFIX.value,
        "reason": message,
        "problem": "unreadable",
        "issuer": None,
        "fields": None,
        "decoded": 0,
    }


def _secure(resp: web.Response) -> web.Response:
    resp.headers.update(SECURITY_HEADERS)
    return resp


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    resp = web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
    )
    resp.headers["Cache-Control"] = "no-store"
    return _secure(resp)
