"""The Canton's virtual counter: upload, receipt, later check.

A resident uploads a document at the virtual counter (guichet virtuel). The
counter hashes it, asks the Canton's aggregator for a KSI signature, and
hands the resident the receipt (a ``.ksig`` file). Weeks later, anyone holding
the document and the receipt checks them: first with the calendar key (at
once), later against a publication, with hash functions alone.

Run it: ``python examples/virtual_counter.py`` (state goes to a temporary
folder; pass a folder to keep it).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from jura_trust import (
    EmbeddedBackend,
    ManualClock,
    hash_file,
    load_signature,
    save_signature,
    verify,
)

# 2026-03-02T09:30:00Z: the counter opens
OPENING = 1_772_443_800


def counter_receives(backend: EmbeddedBackend, upload: Path) -> Path:
    """The counter signs an uploaded file and returns the receipt's path."""
    receipt = backend.sign(hash_file(upload))
    path = save_signature(receipt, upload.with_name(upload.name + ".ksig"))
    print(f"receipt for {upload.name}: {path.name}, issued by {receipt.issuer[0]!r}")
    return path


def resident_checks(backend: EmbeddedBackend, upload: Path, receipt_path: Path) -> bool:
    """Anyone checks a document against its receipt."""
    receipt = load_signature(receipt_path)
    result = verify(receipt, document=upload.read_bytes(), backend=backend)
    code = f" [{result.code.value}]" if result.code else ""
    print(f"  check of {upload.name}: {result.outcome.value}{code} ({result.message})")
    return result.ok


def main(folder: Path) -> int:
    clock = ManualClock(OPENING)
    with EmbeddedBackend(folder / "canton-ksi", clock=clock, client_id="guichet-virtuel") as ksi:
        upload = folder / "demande-permis-de-construire.pdf"
        upload.write_bytes(b"%PDF-1.7 demande de permis de construire, parcelle 1234, Porrentruy\n")
        receipt_path = counter_receives(ksi, upload)

        print("same day, key-based check:")
        ok_now = resident_checks(ksi, upload, receipt_path)

        clock.advance(14 * 86_400)  # two weeks later the monthly publication comes out
        publication = ksi.publish()
        print(f"publication of the calendar: {ksi.publication_string(publication)}")
        save_signature(ksi.extend(load_signature(receipt_path)), receipt_path)
        print("weeks later, the extended receipt checked against the publications file:")
        ok_later = resident_checks(ksi, upload, receipt_path)

        tampered = folder / "altered.pdf"
        tampered.write_bytes(upload.read_bytes().replace(b"1234", b"1235"))
        print("an altered copy:")
        refused = not resident_checks(ksi, tampered, receipt_path)
    return 0 if ok_now and ok_later and refused else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(Path(tmp)))
