"""The ``jura-trust qr`` subcommands.

* ``qr issue DOCS.json --issuer ID --key KEY.pem``: issue one batch; writes
  a PNG, an SVG, a label SVG and the text per document, plus the seal record
  and, for batches larger than ``--page-size``, the page records (and stores
  them all in ``--seals DIR`` when given). KSI signatures come from the
  embedded backend in ``--home``.
* ``qr verify TEXT|IMAGE|DIR...``: verify JT1 (or, with ``--dcc-signer-cert``,
  EU DCC ``HC1:``) certificates, from texts or QR or Aztec images; a
  directory contributes its ``.txt``, ``.png``, ``.jpg`` and ``.jpeg`` files.
  One line per input (one JSON object per line with ``--json``) and, for
  several, a summary. Exit 0 valid, 1 proven invalid, 3 unreadable input,
  4 a trust, service or configuration problem (registry down, trust list
  unreadable or out of date, no seal registry for a compact text, a KSI
  signature that cannot be proven with the trust configuration given), 70
  an internal error; with several inputs, the worst of them.

Errors are printed by :func:`jura_trust.cli._common.run`: exit 70 with a
one-line message (one JSON object under ``--json``), never a traceback,
when something unexpected goes wrong inside jura_trust.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jura_trust.certificates.jt1 import (
    PAGE_SIZE,
    Document,
    issue_batch,
    verify_certificate,
)
from jura_trust.certificates.registry import DirectorySealRegistry, open_registry
from jura_trust.certificates.report import certificate_report
from jura_trust.certificates.trustlist import (
    RevocationList,
    verify_revocation_list,
    verify_trust_list,
)
from jura_trust.cli import _common as c
from jura_trust.cli._keys import json_file as _json_file
from jura_trust.cli._keys import positive_int as _positive_int
from jura_trust.cli._keys import private_key as _private_key
from jura_trust.cli._keys import public_key as _public_key
from jura_trust.cli._keys import read as _read
from jura_trust.cli._keys import time as _time
from jura_trust.cli._keys import write as _write
from jura_trust.errors import (
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
EXIT_VALID = c.EXIT_OK
#: Exit status of ``qr verify`` for a certificate proven invalid (FAIL).
EXIT_INVALID = c.EXIT_FAIL
#: Exit status for input that cannot be read.
EXIT_FORMAT = c.EXIT_FORMAT
#: Exit status for a service, trust or configuration error, and for a
#: certificate that cannot be verified with what was given (NA).
EXIT_SERVICE = c.EXIT_ERROR
#: Exit status for an unexpected internal error (``EX_SOFTWARE``).
EXIT_INTERNAL = c.EXIT_INTERNAL

_TEXT_PREFIXES = ("JT1:", "HC1:")
#: What a directory given to ``qr verify`` contributes.
INPUT_SUFFIXES = (".txt", ".png", ".jpg", ".jpeg")


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home) if getattr(args, "home", None) else c.default_home()


def _qr_version(text: str) -> int:
    value = _positive_int(text)
    if value > 40:
        raise argparse.ArgumentTypeError(f"{text!r} is not a QR version (1 to 40)")
    return value


def _issuer_name(args: argparse.Namespace, at: datetime) -> str | None:
    """The issuer's name from ``--trust-list`` (checked with ``--trust-root``), if given."""
    if not args.trust_list:
        return None
    if not args.trust_root:
        raise CertificateError(
            "--trust-list needs --trust-root PEM to be trusted",
            code=ErrorCode.CRT_TRUST_NOT_CONFIGURED,
        )
    roots = [_public_key(p) for p in args.trust_root]
    trust_list = verify_trust_list(_read(args.trust_list, "trust list"), roots, at=at)
    return trust_list.issuer_by_id(args.issuer).name  # CRT-05 for an unknown issuer


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


def _cmd_issue(args: argparse.Namespace) -> int:
    from jura_trust import qr  # noqa: PLC0415
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
    module_mm = qr.check_module_mm(args.module_mm)  # CRT-22 before anything is signed
    qr.print_scale(module_mm, args.dpi)
    if args.link_base is not None:
        check_link_base(args.link_base)
    issuer_name = _issuer_name(args, issued_at) if args.label else None
    with c.open_embedded(_home(args)) as backend:
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
        c.print_json(summary)
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
    try:
        exists = path.exists()
    except OSError:  # e.g. a name too long for any file: not a file
        exists = False
    if not exists:
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
        c.print_json(summary)
    else:
        print(
            f"wrote {args.out}: label {label.width:.0f} x {label.height:.0f} mm on page {args.page}"
        )
    return 0


def _publications(args: argparse.Namespace, at: datetime) -> Any:
    """The trusted KSI publications file, or ``None`` (then KSI cannot be proven).

    Assembled by :func:`~jura_trust.cli._common.trust_from_args` from
    ``--publications-file`` with ``--publications-anchor`` and
    ``--publications-constraint``, else the pinned file of the client
    configuration, else (unless ``--no-embedded``) the embedded home's file.
    """
    if args.publications_file and not args.publications_anchor:
        raise CertificateError(
            "--publications-file needs --publications-anchor PEM to be trusted "
            "(or pin a service: jura-trust trust pin URL)",
            code=ErrorCode.CRT_TRUST_NOT_CONFIGURED,
        )
    view = argparse.Namespace(
        policy="general",
        at=str(int(at.timestamp())),
        publications_file=args.publications_file,
        trust_anchor=args.publications_anchor,
        cert_constraint=args.publications_constraint,
        home=args.home,
        no_embedded=args.no_embedded,
        config_file=args.config_file,
        no_config=args.no_config,
    )
    with c.Resources(view) as res:
        return c.trust_from_args(view, res).publications_file


def _verify_dcc(
    args: argparse.Namespace, value: str, text: str, at: datetime, *, several: bool
) -> int:
    from jura_trust import pki  # noqa: PLC0415
    from jura_trust.certificates.dcc import verify_dcc  # noqa: PLC0415

    certs: list[Any] = []
    for path in args.dcc_signer_cert:
        certs.extend(pki.load_certificates(_read(path, "DCC signer certificate")))
    result = verify_dcc(text, certs, at=at)
    obj = certificate_report(result, at=at)
    obj["profile"] = "dcc"
    _report(args, value, obj, several=several)
    return _status(result)


def _status(result: VerificationResult) -> int:
    """0 for OK, 1 for FAIL (proven bad), 4 for NA (cannot tell with what was given)."""
    if result.outcome is Outcome.OK:
        return EXIT_VALID
    if result.outcome is Outcome.FAIL:
        return EXIT_INVALID
    return EXIT_SERVICE


def _report(args: argparse.Namespace, value: str, obj: dict[str, Any], *, several: bool) -> None:
    if args.json:
        c.print_json({"input": value, **obj, "message": obj["reason"]}, line=True)
        return
    if several:  # one line per input
        if obj["valid"]:
            print(f"VALID: {_label(value)}")
        else:
            verdict = "INVALID" if obj.get("outcome") == "FAIL" else "NOT VERIFIED"
            print(f"{verdict} [{obj['code']}]: {_label(value)}: {obj['reason']}")
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
    for name_, field in fields.items():
        print(f"    {name_}: {field}")


def _verify_one(
    args: argparse.Namespace, value: str, trusted: _Trusted, at: datetime, *, several: bool
) -> int:
    text = _input_text(value)
    if text.startswith("HC1:"):
        return _verify_dcc(args, value, text, at, several=several)
    trust_list, revocations, seals, publications = trusted.load()
    result = verify_certificate(
        text,
        trust_list=trust_list,
        at=at,
        seals=seals,
        revocations=revocations,
        publications_file=publications,
        ksi_policy=args.ksi_policy,
    )
    _report(args, value, certificate_report(result, at=at), several=several)
    return _status(result)


class _Trusted:
    """The trust list, revocations, seal registry and publications file: read once."""

    def __init__(self, args: argparse.Namespace, at: datetime) -> None:
        self.args = args
        self.at = at
        self._loaded: tuple[Any, Any, Any, Any] | None = None

    def load(self) -> tuple[Any, Any, Any, Any]:
        if self._loaded is None:
            args, at = self.args, self.at
            if not args.trust_list or not args.trust_root:
                missing = " and ".join(
                    flag
                    for flag, given in (
                        ("--trust-list FILE", args.trust_list),
                        ("--trust-root PEM", args.trust_root),
                    )
                    if not given
                )
                raise CertificateError(
                    f"cannot check: JT1 verification needs {missing} (no trust configured)",
                    code=ErrorCode.CRT_TRUST_NOT_CONFIGURED,
                )
            roots = [_public_key(p) for p in args.trust_root]
            trust_list = verify_trust_list(_read(args.trust_list, "trust list"), roots, at=at)
            revocations: RevocationList | None = None
            if args.revocations:
                revocations = verify_revocation_list(
                    _read(args.revocations, "revocation list"), roots, at=at
                )
            seals = open_registry(args.seals) if args.seals else None
            self._loaded = (trust_list, revocations, seals, _publications(args, at))
        return self._loaded


def _cmd_verify(args: argparse.Namespace) -> int:
    at = _time(args.at) or datetime.now(UTC)
    inputs = c.expand_inputs(args.inputs, INPUT_SUFFIXES)
    trusted = _Trusted(args, at)
    statuses: list[int] = []
    several = len(inputs) > 1
    for value in inputs:
        try:
            statuses.append(_verify_one(args, value, trusted, at, several=several))
        except JuraError as exc:
            statuses.append(_error(args, value, exc, several=several))
    if len(inputs) > 1 and not args.json:
        counts = {
            "valid": statuses.count(EXIT_VALID),
            "invalid": statuses.count(EXIT_INVALID),
            "unreadable": statuses.count(EXIT_FORMAT),
            "not verified": statuses.count(EXIT_SERVICE),
        }
        parts = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        print(f"{len(inputs)} input(s): {parts}")
    return c.worst(statuses)


def _label(value: str) -> str:
    return value[:24] + "..." if value.startswith(_TEXT_PREFIXES) else value


def _error(args: argparse.Namespace, value: str, exc: JuraError, *, several: bool) -> int:
    """One input that could not be verified: its line, its status (3 or 4)."""
    if args.json:
        obj = c.jura_error_object(exc, input=value, reason=exc.message, issuer=None, fields=None)
        c.print_json(obj, line=True)
    else:
        where = f"{_label(value)}: " if several else ""
        print(
            f"jura-trust: cannot verify [{exc.code.value}]: {where}{exc.message}", file=sys.stderr
        )
    return c.error_status(exc)


# -- registration ---------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add the ``qr`` commands to an argparse subparsers object."""
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
        help="QR version 1-40 for every code (CRT-22 if a certificate does not fit)",
    )
    pin.add_argument(
        "--pin-version",
        action="store_true",
        help="every code of the batch at the version of the largest (same printed size)",
    )
    p.add_argument("--issued-at", metavar="TIME", help="issuance time (default now)")
    p.add_argument("--home", help="state directory of the embedded KSI backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_issue)

    p = qr_sub.add_parser(
        "verify",
        help="verify a QR/Aztec text or image (exit 0 valid, 1 invalid, 3 unreadable, "
        "4 trust or configuration, 70 internal error)",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="TEXT|IMAGE|DIR",
        help="JT1:/HC1: texts, link certificate URLs, images, files, directories "
        "(their .txt/.png/.jpg files), or -",
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
    c.add_config(p)
    p.add_argument("--json", action="store_true", help="one JSON object per input (JSON Lines)")
    p.set_defaults(func=_cmd_verify)

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
    p.set_defaults(func=_cmd_stamp)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qr`` commands alone (tests; ``jura-trust`` is the real entry)."""
    parser = c.Parser(prog="jura-trust")
    register(parser.add_subparsers(dest="command", required=True, parser_class=c.Parser))
    args = parser.parse_args(argv)
    return c.run(args.func, args)
