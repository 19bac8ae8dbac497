"""The ``jura-trust trustlist`` subcommands (``keygen``, ``build``, ``revoke``, ``inspect``).

Issuer and root keys, signed trust lists and revocation lists.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from jura_trust import _files
from jura_trust.certificates.cose import PrivateKey, decode_sign1
from jura_trust.certificates.trustlist import (
    Issuer,
    IssuerKey,
    RevocationList,
    TrustList,
    key_id,
    verify_trust_list,
)
from jura_trust.cli import _common as c
from jura_trust.cli._keys import json_file as _json_file
from jura_trust.cli._keys import private_key as _private_key
from jura_trust.cli._keys import public_key as _public_key
from jura_trust.cli._keys import read as _read
from jura_trust.cli._keys import required_time as _required_time
from jura_trust.cli._keys import time as _time
from jura_trust.cli._keys import write as _write
from jura_trust.core.hashing import Imprint
from jura_trust.errors import ErrorCode, FormatError, JuraError

__all__ = ["register"]


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
        c.print_json({"key": str(out), "public_key": str(pub_path), "kid": kid, "alg": args.alg})
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
        c.print_json({"out": args.out, "issuers": len(trust_list.issuers), "bytes": len(signed)})
    else:
        print(f"wrote {args.out}: {len(trust_list.issuers)} issuer(s), {len(signed)} bytes")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    issued = _time(args.issued_at) or datetime.now(UTC)
    next_update = _time(args.next_update) or issued + timedelta(days=args.days)
    leaves = [Imprint.parse(text).value for text in args.leaf]
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
        "issued_at": c.iso(trust_list.issued_at),
        "next_update": c.iso(trust_list.next_update),
        "issuers": [
            {
                "id": i.id,
                "name": i.name,
                "document_types": list(i.document_types),
                "keys": [
                    {
                        "kid": k.kid.hex(),
                        "not_before": c.iso(k.not_before),
                        "not_after": c.iso(k.not_after),
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
        c.print_json(obj)
    else:
        for key, value in obj.items():
            print(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return 0


def register(sub: Any) -> None:
    """Add the ``trustlist`` commands to the ``jura-trust`` subparsers."""
    tl = sub.add_parser("trustlist", help="issuer keys, trust lists, revocation lists")
    tl_sub = tl.add_subparsers(dest="trustlist_command", required=True)

    p = tl_sub.add_parser("keygen", help="generate an issuer or root key (PEM)")
    p.add_argument("--out", "-o", required=True, metavar="KEY.pem")
    p.add_argument("--alg", default="es256", choices=["es256", "eddsa"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=(_cmd_keygen))

    p = tl_sub.add_parser("build", help="build and sign a trust list from a JSON spec")
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument("--root-key", required=True, metavar="PEM")
    p.add_argument("--out", "-o", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=(_cmd_build))

    p = tl_sub.add_parser("revoke", help="build and sign a revocation list")
    p.add_argument("--leaf", action="append", default=[], metavar="IMPRINT")
    p.add_argument("--root-key", required=True, metavar="PEM")
    p.add_argument("--out", "-o", required=True, metavar="FILE")
    p.add_argument("--issued-at", metavar="TIME")
    p.add_argument("--next-update", metavar="TIME")
    p.add_argument("--days", type=int, default=7, help="validity when --next-update is absent")
    p.add_argument("--sequence", type=int, default=0)
    p.set_defaults(func=(_cmd_revoke))

    p = tl_sub.add_parser("inspect", help="show a signed trust list (verified with --root)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--root", action="append", default=[], metavar="PEM")
    p.add_argument("--at", metavar="TIME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=(_cmd_inspect))
