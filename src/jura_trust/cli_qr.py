"""The ``jura-trust qr`` and ``jura-trust trustlist`` subcommands.

``cli.py`` calls :func:`register` with its subparsers object.

* ``qr issue DOCS.json --issuer ID --key KEY.pem``: issue one batch; writes
  a PNG, an SVG, a label SVG and the text per document, plus the seal record
  and, for batches larger than ``--page-size``, the page records (and stores
  them all in ``--seals DIR`` when given). KSI signatures come from the
  embedded backend in ``--home``.
* ``qr stamp DOC.pdf --certificate TEXT|FILE -o OUT.pdf``: draw the
  certificate's label on a page of an existing PDF (extra ``print``).
* ``qr verify TEXT|IMAGE``: verify a JT1 (or, with ``--dcc-signer-cert``,
  an EU DCC ``HC1:``) certificate, from a text or a QR or Aztec image.
  A link certificate (``https://...#1...``, from ``qr issue --link-base``)
  is verified like the plain text it carries; its URL is not trusted.
  Exit 0 valid, 1 proven invalid, 3 unreadable input, 4 a trust, service
  or configuration problem (registry down, trust list unreadable or out of
  date, no seal registry for a compact text, a KSI signature that cannot
  be proven with the trust configuration given), 70 an internal error.
* ``trustlist keygen|build|inspect|revoke``: issuer and root keys, signed
  trust lists and revocation lists.

Every ``qr`` and ``trustlist`` command exits 70 with a one-line message
(one JSON object under ``--json``), never a traceback, when something
unexpected goes wrong inside jura_trust.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jura_trust import _files
from jura_trust._timefmt import parse_time
from jura_trust.certificates._json import json_safe
from jura_trust.certificates.cose import PrivateKey, PublicKey, decode_sign1
from jura_trust.certificates.jt1 import (
    PAGE_SIZE,
    Document,
    issue_batch,
    verify_certificate,
)
from jura_trust.certificates.registry import DirectorySealRegistry, open_registry
from jura_trust.certificates.report import certificate_report
from jura_trust.certificates.trustlist import (
    Issuer,
    IssuerKey,
    RevocationList,
    TrustList,
    key_id,
    verify_revocation_list,
    verify_trust_list,
)
from jura_trust.errors import (
    BackendError,
    CertificateError,
    ErrorCode,
    FormatError,
    JuraError,
    Outcome,
)
from jura_trust.verify.result import VerificationResult

__all__ = [
    "EXIT_FORMAT",
    "EXIT_INTERNAL",
    "EXIT_INVALID",
    "EXIT_SERVICE",
    "EXIT_VALID",
    "register",
]

#: Exit status of ``qr verify`` for a valid certificate.
EXIT_VALID = 0
#: Exit status of ``qr verify`` for a certificate proven invalid (FAIL).
EXIT_INVALID = 1
#: Exit status for input that cannot be read.
EXIT_FORMAT = 3
#: Exit status for a service, trust or configuration error, and for a
#: certificate that cannot be verified with what was given (NA).
EXIT_SERVICE = 4
#: Exit status for an unexpected internal error (``EX_SOFTWARE``).
EXIT_INTERNAL = 70

_TEXT_PREFIXES = ("JT1:", "HC1:")
#: Codes that mean "the input could not be read" (exit 3); the rest are
#: trust or service problems (exit 4).
_UNREADABLE_CODES = frozenset(
    {
        ErrorCode.CRT_BAD_PREFIX,
        ErrorCode.CRT_BAD_ENCODING,
        ErrorCode.CRT_BAD_COMPRESSION,
        ErrorCode.CRT_BAD_STRUCTURE,
        ErrorCode.CRT_TOO_LARGE,
    }
    | {code for code in ErrorCode if code.family == "FMT"}
)
_MAX_INPUT_FILE = 64 * 1024 * 1024


# -- helpers -----------------------------------------------------------------------------


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        with _files.open_regular(path) as handle:  # FMT-20 for a FIFO or a device
            data = handle.read(_MAX_INPUT_FILE + 1)
    except OSError as exc:
        raise FormatError(
            f"cannot read {what} {path}: {exc.strerror}", code=ErrorCode.FMT_IO
        ) from None
    if len(data) > _MAX_INPUT_FILE:
        raise FormatError(f"{what} {path} is too large", code=ErrorCode.FMT_LIMIT)
    return data


def _write(path: Path, data: bytes | str, mode: int = _files.PUBLIC_MODE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _files.write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data, mode)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromtimestamp(parse_time(text), UTC)


def _required_time(text: object) -> datetime:
    if not isinstance(text, (str, int)):
        raise FormatError(f"missing or bad time {text!r}", code=ErrorCode.FMT_BAD_TIME)
    return datetime.fromtimestamp(parse_time(str(text)), UTC)


def _private_key(path: str) -> PrivateKey:
    data = _read(path, "key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise FormatError(
            f"{path} is not an unencrypted PEM private key: {exc}",
            code=ErrorCode.FMT_BAD_CERTIFICATE,
        ) from None
    if not isinstance(
        key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)
    ):
        raise FormatError(f"unsupported key type in {path}", code=ErrorCode.FMT_BAD_CERTIFICATE)
    return key


def _public_key(path: str) -> PublicKey:
    """A public key from a PEM public key, a PEM certificate or a PEM private key."""
    data = _read(path, "key")
    key: Any
    try:
        if b"CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        elif b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise FormatError(
            f"{path} holds no usable public key: {exc}", code=ErrorCode.FMT_BAD_CERTIFICATE
        ) from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        raise FormatError(f"unsupported key type in {path}", code=ErrorCode.FMT_BAD_CERTIFICATE)
    return key


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _qr_version(text: str) -> int:
    value = _positive_int(text)
    if value > 40:
        raise argparse.ArgumentTypeError(f"{text!r} is not a QR version (1 to 40)")
    return value


def _json_file(path: str) -> Any:
    try:
        return json.loads(_read(path, "JSON file"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path} is not JSON: {exc}", code=ErrorCode.FMT_STRUCTURE) from None


def _print_json(obj: Any) -> None:
    text = json.dumps(json_safe(obj), indent=2, ensure_ascii=False, sort_keys=True)
    sys.stdout.write(text)
    sys.stdout.write("\n")


def _home(args: argparse.Namespace) -> Path:
    if getattr(args, "home", None):
        return Path(args.home)
    from jura_trust.cli import default_home  # noqa: PLC0415 - cli imports this module

    return default_home()


# -- qr issue ------------------------------------------------------------------------------


def _documents(spec: Any) -> list[Document]:
    if not isinstance(spec, list) or not spec:
        raise FormatError("DOCS.json must be a non-empty JSON list", code=ErrorCode.FMT_STRUCTURE)
    out: list[Document] = []
    for i, item in enumerate(spec):
        if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
            raise FormatError(
                f"document {i} needs 'document_type' and a 'fields' object",
                code=ErrorCode.FMT_STRUCTURE,
            )
        try:
            out.append(
                Document(
                    document_type=str(item.get("document_type", "")),
                    fields=item["fields"],
                    language=item.get("language", "fr"),
                    valid_until=_time(item.get("valid_until")),
                    valid_from=_time(item.get("valid_from")),
                )
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, JuraError):
                raise
            raise FormatError(f"document {i}: {exc}", code=ErrorCode.FMT_STRUCTURE) from None
    return out


def _issuer_name(args: argparse.Namespace, at: datetime) -> str | None:
    """The issuer's name from ``--trust-list`` (checked with ``--trust-root``), if given."""
    if not args.trust_list:
        return None
    if not args.trust_root:
        raise CertificateError(
            "--trust-list needs --trust-root PEM to be trusted",
            code=ErrorCode.CRT_TRUST_LIST_INVALID,
        )
    roots = [_public_key(p) for p in args.trust_root]
    trust_list = verify_trust_list(_read(args.trust_list, "trust list"), roots, at=at)
    return trust_list.issuer_by_id(args.issuer).name  # CRT-05 for an unknown issuer


def _cmd_issue(args: argparse.Namespace) -> int:
    from jura_trust import qr  # noqa: PLC0415
    from jura_trust.backends.memory import EmbeddedBackend  # noqa: PLC0415
    from jura_trust.certificates.label import (  # noqa: PLC0415
        label_language,
        label_png,
        label_svg,
        layout_label,
    )
    from jura_trust.certificates.link import check_link_base  # noqa: PLC0415

    documents = _documents(_json_file(args.documents))
    key = _private_key(args.key)
    try:
        kid = bytes.fromhex(args.kid) if args.kid else None
    except ValueError:
        raise FormatError(f"--kid {args.kid!r} is not hex", code=ErrorCode.FMT_STRUCTURE) from None
    issued_at = _time(args.issued_at) or datetime.now(UTC)
    out = Path(args.out)
    mask = None if args.mask == "auto" else int(args.mask)
    fallback: tuple[Any, ...] = () if args.no_ecc_fallback else qr.DEFAULT_FALLBACK
    module_mm = qr.check_module_mm(args.module_mm)  # CRT-21 before anything is signed
    qr.print_scale(module_mm, args.dpi)
    if args.link_base is not None:
        check_link_base(args.link_base)
    issuer_name = _issuer_name(args, issued_at) if args.label else None
    with EmbeddedBackend(_home(args)) as backend:
        batch = issue_batch(
            documents,
            issuer_id=args.issuer,
            private_key=key,
            ksi=backend,
            issued_at=issued_at,
            kid=kid,
            page_size=args.page_size,
        )
    record = batch.seal.encode()
    seal_hex = batch.seal.seal_id.hex()
    _write(out / f"seal-{seal_hex}.cbor", record)
    for page in batch.pages:
        _write(out / f"page-{page.page:05d}.cbor", page.encode())
    # the seal registry verifiers read (compact texts need it): --seals, or
    # OUT/seals beside the certificates
    registry = DirectorySealRegistry(args.seals or out / "seals")
    for record_id, data in batch.registry_records():
        registry.put(record_id, data)
    texts = [
        cert.link(args.link_base, self_contained=args.self_contained)
        if args.link_base is not None
        else cert.text(self_contained=args.self_contained)
        for cert in batch.certificates
    ]
    version: int | None = args.version
    if args.pin_version:
        # every code of the batch at the version of the largest, so they print alike
        version = max(
            qr.qr_fit(text, error=args.error, fallback=fallback).version for text in texts
        )
    written: list[dict[str, Any]] = []
    for cert, text in zip(batch.certificates, texts, strict=True):
        stem = out / f"cert-{cert.index:04d}"
        symbol = qr.encode_qr(text, error=args.error, fallback=fallback, mask=mask, version=version)
        _write(stem.with_suffix(".txt"), text + "\n")
        _write(stem.with_suffix(".png"), symbol.print_png(module_mm=module_mm, dpi=args.dpi))
        _write(stem.with_suffix(".svg"), symbol.print_svg(module_mm=module_mm))
        item: dict[str, Any] = {
            "index": cert.index,
            "leaf": str(cert.leaf),
            "page": cert.page,
            "text": str(stem.with_suffix(".txt")),
            "png": str(stem.with_suffix(".png")),
            "svg": str(stem.with_suffix(".svg")),
            "qr_version": symbol.version,
            "error_level": symbol.error,
            "mask": symbol.mask,
            "characters": len(text),
            "link": args.link_base is not None,
            "size_mm": round((symbol.size + 2 * qr.DEFAULT_BORDER) * module_mm, 3),
        }
        if args.label:
            lang = args.lang or label_language(cert.payload.language)
            label = layout_label(
                cert, issuer_name=issuer_name, lang=lang, module_mm=module_mm, symbol=symbol
            )
            label_stem = out / f"label-{cert.index:04d}"
            _write(label_stem.with_suffix(".svg"), label_svg(label))
            _write(label_stem.with_suffix(".png"), label_png(label, dpi=args.dpi))
            item["label"] = str(label_stem.with_suffix(".svg"))
            item["label_png"] = str(label_stem.with_suffix(".png"))
            item["label_lang"] = lang
        written.append(item)
    summary = {
        "seal": str(batch.seal.seal),
        "seal_id": seal_hex,
        "seal_record": str(out / f"seal-{seal_hex}.cbor"),
        "pages": len(batch.pages),
        "issuer": args.issuer,
        "kid": batch.seal.kid.hex(),
        "batch_size": len(batch),
        "self_contained": bool(args.self_contained),
        "link_base": args.link_base,
        "module_mm": module_mm,
        "dpi": args.dpi,
        "certificates": written,
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"issued {len(batch)} certificate(s); seal {batch.seal.seal} -> {out}")
        levels = sorted({item["error_level"] for item in written})
        versions = sorted({item["qr_version"] for item in written})
        print(f"  QR versions {versions} at ECC {'/'.join(levels)}")
    return 0


# -- qr verify --------------------------------------------------------------------------------


def _is_certificate_text(text: str) -> bool:
    from jura_trust.certificates.link import is_link  # noqa: PLC0415

    return text.startswith(_TEXT_PREFIXES) or is_link(text)


def _input_text(value: str) -> str:
    if _is_certificate_text(value):
        return value
    if value == "-":
        return sys.stdin.read().rstrip("\r\n")
    path = Path(value)
    if not path.exists():
        raise CertificateError(
            "argument is neither a JT1:/HC1: text, a link certificate nor an existing file",
            code=ErrorCode.CRT_BAD_PREFIX,
        )
    data = _read(path, "input")
    if data[:4] in (b"JT1:", b"HC1:") or data[:8].lower().startswith((b"http://", b"https://")):
        return data.decode("ascii", errors="replace").rstrip("\r\n")
    from jura_trust import qr  # noqa: PLC0415

    texts = qr.read_qr(data, aztec=True)
    for text in texts:
        if _is_certificate_text(text):
            return text
    raise CertificateError(
        f"no JT1/HC1 QR or Aztec code or link certificate found in {value} "
        f"({len(texts)} code(s) read)",
        code=ErrorCode.CRT_BAD_PREFIX,
    )


def _publications(args: argparse.Namespace, at: datetime) -> Any:
    """The trusted KSI publications file, or ``None`` (then KSI cannot be proven)."""
    from jura_trust.publications import PublicationsFile  # noqa: PLC0415

    if args.publications_file:
        pubfile = PublicationsFile.parse(_read(args.publications_file, "publications file"))
        if not args.publications_anchor:
            raise CertificateError(
                "--publications-file needs --publications-anchor PEM to be trusted",
                code=ErrorCode.CRT_TRUST_LIST_INVALID,
            )
        from jura_trust import pki  # noqa: PLC0415

        anchors: list[Any] = []
        for path in args.publications_anchor:
            anchors.extend(pki.load_certificates(_read(path, "anchor")))
        constraints: dict[str, str] = {}
        for item in args.publications_constraint:
            oid, sep, value = item.partition("=")
            if not sep:
                raise FormatError(
                    f"constraint {item!r} is not OID=VALUE", code=ErrorCode.FMT_BAD_CERTIFICATE
                )
            constraints[oid] = value
        return pubfile.trusted(
            trust_anchors=anchors, constraints=constraints, at_time=int(at.timestamp())
        )
    if args.no_embedded:
        return None
    from jura_trust.backends.memory import EmbeddedBackend  # noqa: PLC0415

    try:
        embedded = EmbeddedBackend(_home(args), create=False)
    except BackendError as exc:
        if exc.code is not ErrorCode.SVC_CONFIG:
            raise
        return None  # no local state: nothing trusted, the KSI check cannot pass
    with embedded as backend:
        return backend.trusted_publications_file(int(at.timestamp()))


def _verify_dcc(args: argparse.Namespace, text: str, at: datetime) -> int:
    from jura_trust import pki  # noqa: PLC0415
    from jura_trust.certificates.dcc import verify_dcc  # noqa: PLC0415

    certs: list[Any] = []
    for path in args.dcc_signer_cert:
        certs.extend(pki.load_certificates(_read(path, "DCC signer certificate")))
    result = verify_dcc(text, certs, at=at)
    obj = certificate_report(result, at=at)
    obj["profile"] = "dcc"
    _report(args, obj)
    return _status(result)


def _status(result: VerificationResult) -> int:
    """0 for OK, 1 for FAIL (proven bad), 4 for NA (cannot tell with what was given)."""
    if result.outcome is Outcome.OK:
        return EXIT_VALID
    if result.outcome is Outcome.FAIL:
        return EXIT_INVALID
    return EXIT_SERVICE


def _report(args: argparse.Namespace, obj: dict[str, Any]) -> None:
    if args.json:
        _print_json(obj)
        return
    if not obj["valid"]:
        # Nothing the certificate claims is shown: only why it is not valid.
        verdict = "INVALID" if obj.get("outcome") == "FAIL" else "NOT VERIFIED"
        print(f"{verdict} [{obj['code']}]: {obj['reason']}")
        if obj.get("rule"):
            print(f"  rule        {obj['rule']} (step {obj.get('step')})")
        print("  no field of this certificate is shown: none is proven")
        return
    print("VALID")
    issuer = obj.get("issuer") or {}
    name = f" ({issuer.get('name')})" if issuer.get("name") else ""
    print(f"  issuer      {issuer.get('id')}{name}")
    for label, key in (
        ("document", "document_type"),
        ("issued at", "issued_at"),
        ("valid until", "valid_until"),
        ("expires at", "expires_at"),
        ("KSI time", "ksi_time"),
    ):
        if obj.get(key):
            print(f"  {label:<11} {obj[key]}")
    anchor = obj.get("anchor") or {}
    if anchor.get("description"):
        print(f"  rests on    {anchor['description']}")
    fields = obj.get("fields") or {}
    for name_, value in fields.items():
        print(f"    {name_}: {value}")


def _unreadable(args: argparse.Namespace, exc: JuraError) -> int:
    status = EXIT_FORMAT if exc.code in _UNREADABLE_CODES else EXIT_SERVICE
    if args.json:
        _print_json(
            {
                "valid": False,
                "outcome": None,
                "code": exc.code.value,
                "reason": exc.message,
                "issuer": None,
                "issued_at": None,
                "fields": None,
                "error": exc.diagnostics(),
            }
        )
    else:
        print(f"jura-trust: cannot verify [{exc.code.value}]: {exc.message}", file=sys.stderr)
    return status


def _cmd_verify(args: argparse.Namespace) -> int:
    try:
        at = _time(args.at) or datetime.now(UTC)
        text = _input_text(args.input)
        if text.startswith("HC1:"):
            return _verify_dcc(args, text, at)
        if not args.trust_list or not args.trust_root:
            raise CertificateError(
                "JT1 verification needs --trust-list FILE and --trust-root PEM",
                code=ErrorCode.CRT_TRUST_LIST_INVALID,
            )
        roots = [_public_key(p) for p in args.trust_root]
        trust_list = verify_trust_list(_read(args.trust_list, "trust list"), roots, at=at)
        revocations: RevocationList | None = None
        if args.revocations:
            revocations = verify_revocation_list(
                _read(args.revocations, "revocation list"), roots, at=at
            )
        seals = open_registry(args.seals) if args.seals else None
        publications = _publications(args, at)
        result = verify_certificate(
            text,
            trust_list=trust_list,
            at=at,
            seals=seals,
            revocations=revocations,
            publications_file=publications,
            ksi_policy=args.ksi_policy,
        )
    except JuraError as exc:
        return _unreadable(args, exc)
    _report(args, certificate_report(result, at=at))
    return _status(result)


# -- qr stamp ---------------------------------------------------------------------------------


def _position(text: str) -> tuple[float, float]:
    x, sep, y = text.partition(",")
    try:
        if not sep:
            raise ValueError(text)
        return float(x), float(y)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y in millimetres") from None


def _cmd_stamp(args: argparse.Namespace) -> int:
    from jura_trust import qr  # noqa: PLC0415
    from jura_trust.certificates.jt1 import decode_certificate  # noqa: PLC0415
    from jura_trust.certificates.label import label_language, layout_label  # noqa: PLC0415
    from jura_trust.certificates.stamp import stamp_pdf  # noqa: PLC0415

    text = _input_text(args.certificate)
    decoded = decode_certificate(text)  # CRT-01..04: only a readable JT1 text is stamped
    symbol = qr.encode_qr(text, error=args.error, version=args.version)
    issuer_name = None
    if args.trust_list:
        args.issuer = decoded.payload.issuer_id
        issuer_name = _issuer_name(args, datetime.now(UTC))
    lang = args.lang or label_language(decoded.payload.language)
    label = layout_label(
        decoded, issuer_name=issuer_name, lang=lang, module_mm=args.module_mm, symbol=symbol
    )
    stamped = stamp_pdf(_read(args.pdf, "PDF"), label, page=args.page, at=args.at)
    _write(Path(args.out), stamped)
    summary = {
        "out": args.out,
        "page": args.page,
        "label_mm": [label.width, label.height],
        "qr_version": symbol.version,
        "module_mm": label.module_mm,
        "lang": lang,
    }
    if args.json:
        _print_json(summary)
    else:
        print(
            f"wrote {args.out}: label {label.width:.0f} x {label.height:.0f} mm on page {args.page}"
        )
    return 0


# -- trustlist --------------------------------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace) -> int:
    key: PrivateKey
    if args.alg == "eddsa":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    out = Path(args.out)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(out, pem, _files.PRIVATE_MODE)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path = out.with_name(out.stem + ".pub.pem")
    _write(pub_path, public)
    kid = key_id(key.public_key()).hex()
    if args.json:
        _print_json({"key": str(out), "public_key": str(pub_path), "kid": kid, "alg": args.alg})
    else:
        print(f"wrote {out} and {pub_path}; kid {kid}")
    return 0


def _trust_list_from_spec(spec: Any, base: Path) -> TrustList:
    if not isinstance(spec, dict) or not isinstance(spec.get("issuers"), list):
        raise FormatError("trust list spec needs an 'issuers' list", code=ErrorCode.FMT_STRUCTURE)
    issuers = []
    try:
        for item in spec["issuers"]:
            keys = []
            for k in item["keys"]:
                public = _public_key(str(base / k["public_key"]))
                keys.append(
                    IssuerKey(
                        kid=bytes.fromhex(k["kid"]) if k.get("kid") else key_id(public),
                        public_key=public,
                        not_before=_required_time(k["not_before"]),
                        not_after=_required_time(k["not_after"]),
                    )
                )
            issuers.append(Issuer(item["id"], item["name"], keys, item["document_types"]))
        return TrustList(
            issued_at=_required_time(spec["issued_at"]),
            next_update=_required_time(spec["next_update"]),
            issuers=issuers,
            sequence=int(spec.get("sequence", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, JuraError):
            raise
        raise FormatError(f"bad trust list spec: {exc!r}", code=ErrorCode.FMT_STRUCTURE) from None


def _cmd_build(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    trust_list = _trust_list_from_spec(_json_file(args.spec), spec_path.parent)
    signed = trust_list.sign(_private_key(args.root_key))
    _write(Path(args.out), signed)
    if args.json:
        _print_json({"out": args.out, "issuers": len(trust_list.issuers), "bytes": len(signed)})
    else:
        print(f"wrote {args.out}: {len(trust_list.issuers)} issuer(s), {len(signed)} bytes")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    issued = _time(args.issued_at) or datetime.now(UTC)
    next_update = _time(args.next_update) or issued + timedelta(days=args.days)
    leaves = []
    for text in args.leaf:
        from jura_trust.core.hashing import Imprint  # noqa: PLC0415

        leaves.append(Imprint.parse(text).value)
    revocations = RevocationList(
        issued_at=issued, next_update=next_update, revoked=leaves, sequence=args.sequence
    )
    _write(Path(args.out), revocations.sign(_private_key(args.root_key)))
    print(f"wrote {args.out}: {len(leaves)} revoked leaf hash(es)")
    return 0


def _describe_trust_list(trust_list: TrustList) -> dict[str, Any]:
    return {
        "kind": "trust-list",
        "sequence": trust_list.sequence,
        "issued_at": trust_list.issued_at.isoformat(),
        "next_update": trust_list.next_update.isoformat(),
        "issuers": [
            {
                "id": i.id,
                "name": i.name,
                "document_types": list(i.document_types),
                "keys": [
                    {
                        "kid": k.kid.hex(),
                        "not_before": k.not_before.isoformat(),
                        "not_after": k.not_after.isoformat(),
                    }
                    for k in i.keys
                ],
            }
            for i in trust_list.issuers
        ],
    }


def _cmd_inspect(args: argparse.Namespace) -> int:
    data = _read(args.file, "trust list")
    at = _time(args.at) or datetime.now(UTC)
    if args.root:
        roots = [_public_key(p) for p in args.root]
        obj = _describe_trust_list(verify_trust_list(data, roots, at=at))
        obj["verified"] = True
    else:
        message = decode_sign1(data, require_tag=True)
        kid = message.kid
        obj = {"verified": False, "root_kid": kid.hex() if kid else None, "bytes": len(data)}
        obj["note"] = "signature not checked: pass --root PEM"
    if args.json:
        _print_json(obj)
    else:
        for key, value in obj.items():
            print(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return 0


# -- internal errors -------------------------------------------------------------------------


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run ``command``; an unexpected exception exits 70 with a message, never a traceback.

    jura_trust's own errors (:class:`~jura_trust.errors.JuraError`, with a
    code) go on to the caller, which maps them to 3 or 4.
    """

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except JuraError:
            raise
        except Exception as exc:
            message = f"internal error: {type(exc).__name__}: {exc}"
            if getattr(args, "json", False):
                _print_json(
                    {
                        "valid": None,
                        "outcome": None,
                        "code": None,
                        "reason": message,
                        "error": {"internal": True, "type": type(exc).__name__},
                    }
                )
            print(f"jura-trust: {message}", file=sys.stderr)
            return EXIT_INTERNAL

    return run


# -- registration ---------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add the ``qr`` and ``trustlist`` commands to an argparse subparsers object."""
    qr_parser = subparsers.add_parser("qr", help="signed QR certificates (JT1): issue, verify")
    qr_sub = qr_parser.add_subparsers(dest="qr_command", required=True)

    p = qr_sub.add_parser("issue", help="issue a batch from DOCS.json (a JSON list of documents)")
    p.add_argument("documents", metavar="DOCS.json")
    p.add_argument("--issuer", required=True, help="the issuer id in the trust list")
    p.add_argument("--key", required=True, metavar="PEM", help="the issuer's private key")
    p.add_argument("--kid", metavar="HEX", help="key id (default: SHA-256(SPKI)[:8])")
    p.add_argument("--out", "-o", default=".", metavar="DIR", help="output folder")
    p.add_argument("--seals", metavar="DIR", help="seal registry folder (default: OUT/seals)")
    p.add_argument("--self-contained", action="store_true", help="embed the seal record")
    p.add_argument("--error", default="q", choices=["l", "m", "q", "h"], help="ECC (default q)")
    p.add_argument(
        "--no-ecc-fallback",
        action="store_true",
        help="fail when the text does not fit at --error (default: fall back to M, then L)",
    )
    p.add_argument(
        "--mask",
        default="auto",
        choices=["auto", *map(str, range(8))],
        help="QR data mask (default auto: the ISO/IEC 18004 penalty evaluation)",
    )
    p.add_argument(
        "--page-size",
        type=_positive_int,
        default=PAGE_SIZE,
        metavar="N",
        help=f"documents per page in batches larger than N (default {PAGE_SIZE})",
    )
    p.add_argument(
        "--label", action="store_true", help="also write a printable label (SVG and PNG)"
    )
    p.add_argument(
        "--link-base",
        metavar="URL",
        help="make link certificates: URL#digits, opened by any phone camera (URL = the "
        "verification page, e.g. https://verify.example/)",
    )
    p.add_argument(
        "--lang",
        choices=["fr", "de", "en"],
        help="label language (default: the document's language if fr, de or en, else fr)",
    )
    p.add_argument(
        "--trust-list", metavar="FILE", help="signed trust list: the issuer's name on labels"
    )
    p.add_argument("--trust-root", action="append", default=[], metavar="PEM")
    p.add_argument(
        "--module-mm",
        type=float,
        default=0.5,
        metavar="MM",
        help="printed module size in mm (default 0.5; at least 0.33)",
    )
    p.add_argument(
        "--dpi", type=_positive_int, default=300, metavar="N", help="PNG density (default 300)"
    )
    pin = p.add_mutually_exclusive_group()
    pin.add_argument(
        "--version",
        type=_qr_version,
        metavar="N",
        help="QR version 1-40 for every code (CRT-21 if a certificate does not fit)",
    )
    pin.add_argument(
        "--pin-version",
        action="store_true",
        help="every code of the batch at the version of the largest (same printed size)",
    )
    p.add_argument("--issued-at", metavar="TIME", help="issuance time (default now)")
    p.add_argument("--home", help="state directory of the embedded KSI backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(_cmd_issue))

    p = qr_sub.add_parser(
        "verify",
        help="verify a QR/Aztec text or image (exit 0 valid, 1 invalid, 3 unreadable, "
        "4 trust or configuration, 70 internal error)",
    )
    p.add_argument(
        "input",
        metavar="TEXT|IMAGE",
        help="JT1:/HC1: text, a link certificate URL, an image, a file, or -",
    )
    p.add_argument("--trust-list", metavar="FILE", help="signed trust list")
    p.add_argument("--trust-root", action="append", default=[], metavar="PEM")
    p.add_argument("--revocations", metavar="FILE", help="signed revocation list")
    p.add_argument("--seals", metavar="DIR|FILE|URL", help="seal registry")
    p.add_argument("--dcc-signer-cert", action="append", default=[], metavar="PEM")
    p.add_argument("--publications-file", metavar="FILE", help="KSI publications file")
    p.add_argument("--publications-anchor", action="append", default=[], metavar="PEM")
    p.add_argument("--publications-constraint", action="append", default=[], metavar="OID=V")
    p.add_argument(
        "--no-embedded",
        action="store_true",
        help="do not take the publications file from the embedded backend",
    )
    p.add_argument(
        "--ksi-policy", default="general", choices=["general", "key", "publications-file"]
    )
    p.add_argument("--at", metavar="TIME", help="validation time (default now)")
    p.add_argument("--home", help="state directory of the embedded KSI backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(_cmd_verify))

    p = qr_sub.add_parser(
        "stamp", help="place a certificate's label on a page of an existing PDF (extra: print)"
    )
    p.add_argument("pdf", metavar="DOC.pdf")
    p.add_argument(
        "--certificate",
        required=True,
        metavar="TEXT|FILE",
        help="the certificate: JT1: text, link URL, a .txt file or an image of the code",
    )
    p.add_argument("--out", "-o", required=True, metavar="OUT.pdf")
    p.add_argument("--page", type=_positive_int, default=1, metavar="N", help="page (default 1)")
    p.add_argument(
        "--at",
        type=_position,
        metavar="X,Y",
        help="label's top-left corner in mm from the page's top-left corner "
        "(default: bottom right, 10 mm from the edges)",
    )
    p.add_argument("--lang", choices=["fr", "de", "en"], help="label language")
    p.add_argument("--trust-list", metavar="FILE", help="signed trust list: the issuer's name")
    p.add_argument("--trust-root", action="append", default=[], metavar="PEM")
    p.add_argument("--module-mm", type=float, default=0.5, metavar="MM")
    p.add_argument("--version", type=_qr_version, metavar="N", help="QR version 1-40")
    p.add_argument("--error", default="q", choices=["l", "m", "q", "h"], help="ECC (default q)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(_cmd_stamp))

    tl = subparsers.add_parser("trustlist", help="issuer keys, trust lists, revocation lists")
    tl_sub = tl.add_subparsers(dest="trustlist_command", required=True)

    p = tl_sub.add_parser("keygen", help="generate an issuer or root key (PEM)")
    p.add_argument("--out", "-o", required=True, metavar="KEY.pem")
    p.add_argument("--alg", default="es256", choices=["es256", "eddsa"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(_cmd_keygen))

    p = tl_sub.add_parser("build", help="build and sign a trust list from a JSON spec")
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument("--root-key", required=True, metavar="PEM")
    p.add_argument("--out", "-o", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(_cmd_build))

    p = tl_sub.add_parser("revoke", help="build and sign a revocation list")
    p.add_argument("--leaf", action="append", default=[], metavar="IMPRINT")
    p.add_argument("--root-key", required=True, metavar="PEM")
    p.add_argument("--out", "-o", required=True, metavar="FILE")
    p.add_argument("--issued-at", metavar="TIME")
    p.add_argument("--next-update", metavar="TIME")
    p.add_argument("--days", type=int, default=7, help="validity when --next-update is absent")
    p.add_argument("--sequence", type=int, default=0)
    p.set_defaults(func=_guarded(_cmd_revoke))

    p = tl_sub.add_parser("inspect", help="show a signed trust list (verified with --root)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--root", action="append", default=[], metavar="PEM")
    p.add_argument("--at", metavar="TIME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(_cmd_inspect))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qr``/``trustlist`` commands alone (tests; ``jura-trust`` is the real entry)."""
    parser = argparse.ArgumentParser(prog="jura-trust")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
