"""``jura-trust demo``: the Canton's virtual counter, end to end, in one run."""

from __future__ import annotations

from pathlib import Path

from jura_trust._files import write_atomic
from jura_trust._timefmt import format_time
from jura_trust.api import hash_file, load_signature, save_signature, verify
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.publication import encode_publication_string
from jura_trust.errors import Outcome

SAMPLE = (
    "République et Canton du Jura - Guichet virtuel\n"
    "Extrait du registre des poursuites\n"
    "Personne: Exemple SA, Delémont\n"
    "Statut: aucune poursuite en cours\n"
)


def _line(ok: bool, text: str) -> bool:
    print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    return ok


def run(home: Path) -> int:
    """Sign, verify, tamper, publish, extend and verify again; 0 if all held."""
    workdir = home / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    doc = workdir / "extrait-poursuites.txt"
    write_atomic(doc, SAMPLE.encode("utf-8"))
    results: list[bool] = []
    print(f"jura_trust demo (state in {home})")
    with EmbeddedBackend(home) as backend:
        imprint = hash_file(doc)
        print(f"1. The resident uploads {doc.name}; its hash is {imprint}")
        sig = backend.sign(imprint)
        path = save_signature(sig, doc.with_name(doc.name + ".ksig"))
        print(f"2. The aggregator returns a KSI signature: {path.name}, {len(sig.encode())} bytes")
        print(f"   signed at {format_time(sig.aggregation_time)} by '{' / '.join(sig.issuer)}'")

        sig = load_signature(path)
        res = verify(sig, document=doc.read_bytes(), backend=backend, policy="key")
        results.append(_line(res.ok, "key-based verification: the calendar key signed it"))

        tampered = doc.read_bytes().replace(b"aucune", b"plusieurs")
        res = verify(sig, document=tampered, backend=backend, policy="key")
        results.append(
            _line(
                res.outcome is Outcome.FAIL and res.code is not None and res.code.value == "GEN-01",
                f"an altered document is refused ({res.code.value if res.code else '-'})",
            )
        )

        record = backend.publish()
        text = encode_publication_string(record.published_data)
        when = format_time(record.publication_time)
        print(f"3. The publisher publishes the calendar root of {when}:")
        print(f"   {text}")
        extended = backend.extend(sig)
        save_signature(extended, path)
        print("4. The receipt is extended to that publication")

        res = verify(extended, document=doc.read_bytes(), backend=backend)
        results.append(_line(res.ok, "verified against the signed publications file"))
        res = verify(
            extended, document=doc.read_bytes(), publication=text, policy="user-publication"
        )
        results.append(_line(res.ok, "verified with the printed publication string alone (no key)"))
    proved = all(results)
    print(
        "Proved: the document is unaltered, was signed at the stated second by the stated "
        "issuer, and the proof rests on hash functions and a published value."
        if proved
        else "Something did not verify: see above."
    )
    return 0 if proved else 1
