"""A service home with everything the residents' page checks: receipts and certificates.

Built before the service starts (the service then holds the home's lock):
a trust list and its root, an issuer key, a batch of JT1 certificates whose
seal is signed by the home's own calendar, a revoked one, and documents with
their receipts (``.ksig``) signed by the same calendar.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from jura_trust import cli
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import HashAlgorithm, Imprint

ISSUER_NAME = "Office des poursuites du Jura"
DOCUMENT = "Demande de permis de construire\nParcelle 1234, Delémont\n".encode()

FIELDS: dict[str, Any] = {
    "nom": "Muster",
    "prenom": "Hélène",
    "naissance": "1980-04-12",
    "localite": "Delémont",
    "statut": "aucune poursuite",
}


def _run(*argv: str) -> None:
    status = cli.main(list(argv))
    assert status == 0, argv


def build(base: Path) -> dict[str, Any]:
    """Make ``base/home`` and the files; return what the tests need."""
    home = base / "home"
    _run("trustlist", "keygen", "-o", str(base / "root.pem"))
    _run("trustlist", "keygen", "-o", str(base / "issuer.pem"))
    spec = {
        "issued_at": "2020-01-01T00:00:00Z",
        "next_update": "2099-01-01T00:00:00Z",
        "sequence": 1,
        "issuers": [
            {
                "id": "CH-JU-OP",
                "name": ISSUER_NAME,
                "document_types": ["debt-register-extract"],
                "keys": [
                    {
                        "public_key": "issuer.pub.pem",
                        "not_before": "2020-01-01T00:00:00Z",
                        "not_after": "2090-01-01T00:00:00Z",
                    }
                ],
            }
        ],
    }
    (base / "spec.json").write_text(json.dumps(spec))
    _run(
        "trustlist", "build", str(base / "spec.json"),
        "--root-key", str(base / "root.pem"), "-o", str(base / "tl.cose"),
    )  # fmt: skip
    docs = [
        {
            "document_type": "debt-register-extract",
            "language": "fr",
            "valid_until": "2099-01-01T00:00:00Z",
            "fields": dict(FIELDS, extrait=f"2026-{i:06d}"),
        }
        for i in range(3)
    ]  # 0..2 valid; 3 expired; 4 revoked
    docs.append(
        {
            "document_type": "debt-register-extract",
            "language": "fr",
            "valid_until": "2021-01-01T00:00:00Z",
            "issued_at": "2020-06-01T00:00:00Z",
            "fields": dict(FIELDS, extrait="2020-000001"),
        }
    )
    docs.append(
        {
            "document_type": "debt-register-extract",
            "language": "fr",
            "valid_until": "2099-01-01T00:00:00Z",
            "fields": dict(FIELDS, extrait="2026-999999"),
        }
    )
    (base / "docs.json").write_text(json.dumps(docs))
    _run(
        "qr", "issue", str(base / "docs.json"), "--issuer", "CH-JU-OP",
        "--key", str(base / "issuer.pem"), "--out", str(base / "out"),
        "--seals", str(base / "seals"), "--home", str(home),
    )  # fmt: skip
    texts = sorted((base / "out").glob("*.txt"))
    certificates = [p.read_text().strip() for p in texts]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(
            [
                "qr", "verify", certificates[4], "--json",
                "--trust-list", str(base / "tl.cose"), "--trust-root", str(base / "root.pub.pem"),
                "--seals", str(base / "seals"), "--home", str(home),
            ]
        )  # fmt: skip
    leaf = json.loads(out.getvalue())["leaf"]
    _run(
        "trustlist", "revoke", "--leaf", leaf, "--root-key", str(base / "root.pem"),
        "-o", str(base / "revoked.cose"), "--days", "30",
    )  # fmt: skip
    documents = {"doc": DOCUMENT, "altered": DOCUMENT.replace(b"1234", b"1235")}
    receipts: dict[str, bytes] = {}
    with EmbeddedBackend(home) as backend:
        for name, alg in (
            ("sha256", HashAlgorithm.SHA2_256),
            ("sha384", HashAlgorithm.SHA2_384),
            ("sha3", HashAlgorithm.SHA3_256),
        ):
            receipts[name] = backend.sign(Imprint.hash(DOCUMENT, alg)).encode()
    for name, data in documents.items():
        (base / f"{name}.txt").write_bytes(data)
    for name, data in receipts.items():
        (base / f"{name}.ksig").write_bytes(data)
    # The tests all come from 127.0.0.1: a budget far above the default.
    (base / "service.toml").write_text("[page]\nclient_burst = 100000\ntotal_burst = 100000\n")
    return {
        "config": base / "service.toml",
        "base": base,
        "home": home,
        "certificates": certificates,
        "documents": documents,
        "receipts": receipts,
        "serve_args": [
            "--qr-trust-list",
            str(base / "tl.cose"),
            "--qr-trust-root",
            str(base / "root.pub.pem"),
            "--qr-seals",
            str(base / "seals"),
            "--qr-revocations",
            str(base / "revoked.cose"),
        ],
    }
