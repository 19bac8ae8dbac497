"""Issue and verify debt-register extracts as JT1 QR certificates.

Runs entirely in memory: an embedded KSI backend anchors the batch seal, a
trust list names the debt-collection office, and each extract becomes a QR
code. The PNG is read back with zxing-cpp when it is installed
(``pip install jura-trust[qr-read]``). Finally one extract is tampered with
and fails with a coded reason.

    python examples/qr_debt_register.py
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from jura_trust import qr
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.certificates._cbor import dumps_canonical
from jura_trust.certificates.envelope import decode_envelope, encode_envelope
from jura_trust.certificates.jt1 import (
    ZDICT_V2,
    Document,
    Payload,
    issue_batch,
    verify_certificate,
)
from jura_trust.certificates.registry import MemorySealRegistry
from jura_trust.certificates.trustlist import Issuer, IssuerKey, TrustList, key_id

ISSUED = datetime(2024, 3, 15, 9, 0, tzinfo=UTC)


def main() -> None:
    ksi = EmbeddedBackend(clock=ManualClock(ISSUED.timestamp()))
    office_key = ec.generate_private_key(ec.SECP256R1())
    trust = TrustList(
        issued_at=ISSUED - timedelta(days=1),
        next_update=ISSUED + timedelta(days=365),
        issuers=[
            Issuer(
                "CH-JU-OP",
                "Office des poursuites et faillites du Jura",
                [
                    IssuerKey(
                        key_id(office_key.public_key()),
                        office_key.public_key(),
                        ISSUED - timedelta(days=30),
                        ISSUED + timedelta(days=730),
                    )
                ],
                ["debt-register-extract"],
            )
        ],
    )
    people = [("Muster", "Hans", 0), ("Exemple", "Marie", 2), ("Beispiel", "Anna", 0)]
    documents = [
        Document(
            "debt-register-extract",
            {
                "nom": name,
                "prenom": first,
                "naissance": "1980-04-12",
                "localite": "Delémont",
                "extrait": f"2024-{i:06d}",
                "poursuites": count,
                "statut": "aucune poursuite" if count == 0 else "poursuites en cours",
            },
            language="fr",
            valid_until=ISSUED + timedelta(days=90),
        )
        for i, (name, first, count) in enumerate(people)
    ]
    batch = issue_batch(
        documents,
        issuer_id="CH-JU-OP",
        private_key=office_key,
        ksi=ksi,
        issued_at=ISSUED,
    )
    # The seal record, plus one page record per page for batches larger
    # than the page size (32 by default; this batch of 3 has no pages).
    seals = MemorySealRegistry(dict(batch.registry_records()))
    publications = ksi.trusted_publications_file()
    print(f"batch of {len(batch)} sealed: {batch.seal.seal}")

    cert = batch.certificates[1]
    text = cert.text()
    symbol = qr.encode_qr(text)
    print(f"QR text: {len(text)} characters, version {symbol.version} at ECC {symbol.error}")
    offline = qr.qr_fit(cert.text(self_contained=True))
    print(f"self-contained: version {offline.version} at ECC {offline.error}")
    png = symbol.png()
    try:
        scanned = qr.read_qr(png)[0]
        print("read back from the PNG with zxing-cpp")
    except Exception as exc:
        print(f"(zxing-cpp not available: {exc}); using the text directly")
        scanned = text

    at = ISSUED + timedelta(days=2)
    result = verify_certificate(
        scanned, trust_list=trust, at=at, seals=seals, publications_file=publications
    )
    print(f"verify: {result.outcome.value} issuer={result.facts['issuer']['name']!r}")
    print(f"  rests on: {result.anchor.description}")
    print(f"  proven by KSI at {result.facts['ksi_time']}")
    for name, value in result.facts["fields"].items():
        print(f"  {name}: {value}")

    # Tamper: change the status field and re-wrap the envelope.
    item = dict(cbor2.loads(decode_envelope(scanned, zdict=ZDICT_V2)))
    payload = Payload.from_cbor(item[1])
    forged = attrs.evolve(payload, fields={**payload.fields, "poursuites": 0})
    item[1] = forged.to_cbor()
    tampered = encode_envelope(dumps_canonical(item), zdict=ZDICT_V2)
    bad = verify_certificate(
        tampered, trust_list=trust, at=at, seals=seals, publications_file=publications
    )
    code = bad.code.value if bad.code else None
    print(f"tampered: {bad.outcome.value} code={code} ({bad.message})")
    late = verify_certificate(
        scanned,
        trust_list=trust,
        at=ISSUED + timedelta(days=120),
        seals=seals,
        publications_file=publications,
    )
    print(f"120 days later: {late.outcome.value} code={late.code.value if late.code else None}")


if __name__ == "__main__":
    main()
