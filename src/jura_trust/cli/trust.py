"""``jura-trust trust pin URL`` and ``jura-trust trust show``: trust set up once.

``pin`` fetches a service's publications file (``URL/publications.bin``)
and the certificate that signs it (``URL/publisher.pem``), checks that the
one verifies with the other, shows the certificate's fingerprint (compare it
with the operator's: pinning trusts what the network gave the first time,
unless ``--fingerprint`` says what to expect), and records both, with the
aggregator and extender URLs and the login (its key from an environment
variable or a file, never in the file), in the client configuration that
``verify``, ``extend``, ``sign`` and ``qr verify`` read.
"""

from __future__ import annotations

import argparse
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from jura_trust import _files
from jura_trust.cli import _common as c
from jura_trust.cli import _config
from jura_trust.errors import BackendError, ErrorCode, PKIError

__all__ = ["register"]

_MAX_DOWNLOAD = 16 * 1024 * 1024


def _fetch(url: str, timeout: float) -> bytes:
    """GET ``url`` (http or https only), at most 16 MiB; SVC-01 when unreachable."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise c.UsageError(f"{url}: trust pin needs an http:// or https:// URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - checked
            data: bytes = response.read(_MAX_DOWNLOAD + 1)
    except urllib.error.HTTPError as exc:
        raise BackendError(
            f"{url} answered HTTP {exc.code}", code=ErrorCode.SVC_UNAVAILABLE
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendError(
            f"cannot reach {url}: {reason}", code=ErrorCode.SVC_UNAVAILABLE
        ) from None
    if len(data) > _MAX_DOWNLOAD:
        raise BackendError(f"{url} is larger than 16 MiB", code=ErrorCode.SVC_BAD_RESPONSE)
    return data


def _normalised(fp: str) -> str:
    return re.sub(r"[^0-9A-F]", "", fp.upper().removeprefix("SHA-256:"))


def _cmd_pin(args: argparse.Namespace) -> int:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    from jura_trust import pki  # noqa: PLC0415
    from jura_trust.publications import PublicationsFile  # noqa: PLC0415

    base = args.url.rstrip("/")
    if args.key_env and args.key_file:
        raise c.UsageError("give --key-env or --key-file, not both")
    publications = _fetch(f"{base}/publications.bin", args.timeout)
    pem = _fetch(f"{base}/publisher.pem", args.timeout)
    certificates = pki.load_certificates(pem)
    if len(certificates) != 1:
        raise PKIError(
            f"{base}/publisher.pem holds {len(certificates)} certificates, not one",
            code=ErrorCode.PKI_UNTRUSTED,
        )
    cert = certificates[0]
    der = cert.public_bytes(serialization.Encoding.DER)
    fp = _config.fingerprint(der)
    if args.fingerprint and _normalised(args.fingerprint) != _normalised(fp):
        raise PKIError(
            f"the service's publisher certificate has fingerprint {fp}, not the "
            f"--fingerprint given: nothing was pinned",
            code=ErrorCode.PKI_UNTRUSTED,
        )
    constraints = c.parse_constraints(args.cert_constraint)
    if not constraints:
        emails = cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS)
        if emails:
            constraints = {"E": str(emails[0].value)}
    # Fail closed: the file must verify with the certificate before anything is written.
    PublicationsFile.parse(publications).trusted(trust_anchors=[cert], constraints=constraints)
    path = Path(args.config_file) if args.config_file else _config.default_path()
    pins = path.parent / "pins"
    pins.mkdir(parents=True, exist_ok=True)
    netloc = urllib.parse.urlsplit(base).netloc
    stem = re.sub(r"[^A-Za-z0-9.-]", "_", netloc) or "service"
    pub_path = pins / f"{stem}-publications.bin"
    cert_path = pins / f"{stem}-publisher.pem"
    _files.write_atomic(pub_path, publications)
    _files.write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    text = _config.dump(
        {
            "url": base,
            "aggregator": args.aggregator or f"{base}/aggregator",
            "extender": args.extender or f"{base}/extender",
            "publications_url": f"{base}/publications.bin",
            "login": args.login,
            "key_env": args.key_env,
            "key_file": str(Path(args.key_file).resolve()) if args.key_file else None,
        },
        {
            "publications_file": str(pub_path.relative_to(path.parent)),
            "certificate": str(cert_path.relative_to(path.parent)),
            "fingerprint": fp,
            "constraints": constraints,
        },
    )
    _files.write_atomic(path, text.encode("utf-8"))
    result = {
        "url": base,
        "config": str(path),
        "fingerprint": fp,
        "subject": cert.subject.rfc4514_string(),
        "constraints": constraints,
        "publications_file": str(pub_path),
        "certificate": str(cert_path),
        "fingerprint_checked": bool(args.fingerprint),
    }
    if args.json:
        c.print_json(result)
    else:
        print(f"pinned {base}")
        print(f"  publisher   {result['subject']}")
        print(f"  fingerprint {fp}")
        if not args.fingerprint:
            print("  compare this fingerprint with the one the service's operator publishes")
        print(f"  written to  {path}")
    return c.EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    config = _config.load(args.config_file)
    obj: dict[str, Any] = {
        "config": str(config.path) if config.path else None,
        "url": config.url,
        "aggregator": config.aggregator,
        "extender": config.extender,
        "publications_url": config.publications_url,
        "login": config.login,
        "key_env": config.key_env,
        "key_file": str(config.key_file) if config.key_file else None,
        "publications_file": str(config.publications_file) if config.publications_file else None,
        "certificate": str(config.certificate) if config.certificate else None,
        "fingerprint": config.fingerprint,
        "constraints": config.constraints,
    }
    if args.json:
        c.print_json(obj)
    elif config.path is None:
        print("no client configuration: pin a service with 'jura-trust trust pin URL'")
    else:
        for key, value in obj.items():
            if value:
                print(f"{key:<18} {value}")
    return c.EXIT_OK


def register(sub: Any) -> None:
    """Add ``trust pin`` and ``trust show`` to the ``jura-trust`` subparsers."""
    t = sub.add_parser("trust", help="pin a service's publications file and certificate")
    t_sub = t.add_subparsers(dest="trust_command", required=True, parser_class=c.Parser)

    p = t_sub.add_parser(
        "pin", help="fetch URL/publications.bin and URL/publisher.pem; record them"
    )
    p.add_argument("url", metavar="URL", help="the service's base URL (http://host:port)")
    p.add_argument(
        "--fingerprint",
        metavar="SHA-256",
        help="refuse unless the certificate has this fingerprint",
    )
    p.add_argument("--cert-constraint", action="append", default=[], metavar="OID=VALUE")
    p.add_argument("--aggregator", metavar="URL", help="default URL/aggregator")
    p.add_argument("--extender", metavar="URL", help="default URL/extender")
    p.add_argument("--login", metavar="NAME", help="login for the aggregator and extender")
    p.add_argument("--key-env", metavar="VARIABLE", help="environment variable holding the key")
    p.add_argument("--key-file", metavar="PATH", help="file holding the key")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S")
    p.add_argument("--config-file", metavar="FILE", help="default: $JURA_TRUST_CONFIG or ~/.config")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_pin)

    p = t_sub.add_parser("show", help="print the client configuration")
    p.add_argument("--config-file", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_show)
