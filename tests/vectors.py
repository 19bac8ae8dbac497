"""The one loader for external test vectors (see tests/vectors/PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"
KSI = VECTORS / "ksi"
DCC = VECTORS / "dcc"


def ksi_path(relative: str) -> Path:
    """Path of a KSI vector, relative to tests/vectors/ksi/."""
    path = KSI / relative
    if not path.is_file():
        raise FileNotFoundError(f"missing KSI vector {relative}")
    return path


def ksi_bytes(relative: str) -> bytes:
    """Bytes of a KSI vector, relative to tests/vectors/ksi/."""
    return ksi_path(relative).read_bytes()


def dcc_path(relative: str) -> Path:
    """Path of a DCC vector, relative to tests/vectors/dcc/."""
    path = DCC / relative
    if not path.is_file():
        raise FileNotFoundError(f"missing DCC vector {relative}")
    return path


class PackRow:
    """One row of a libksi test-pack CSV table (columns as in MANIFEST.md)."""

    __slots__ = (
        "aggregation_time",
        "calendar_input",
        "calendar_output",
        "cert_file",
        "code",
        "document_hash",
        "extender_response",
        "extending_permitted",
        "input_level",
        "path",
        "policy",
        "publication_string",
        "publication_time",
        "publications_file",
        "signature",
        "table",
    )

    def __init__(self, table: Path, cols: list[str]) -> None:
        cols = [*cols, *[""] * (15 - len(cols))]
        self.table = table
        self.signature = cols[0]
        self.policy = cols[1]
        self.code = cols[2]
        self.input_level = int(cols[4] or 0)
        self.document_hash = cols[5]
        self.calendar_input = cols[6]
        self.calendar_output = cols[7]
        self.aggregation_time = cols[8]
        self.publication_time = cols[9]
        self.publication_string = cols[10]
        self.extending_permitted = cols[11].strip().lower() == "true"
        self.extender_response = cols[12]
        self.publications_file = cols[13]
        self.cert_file = cols[14]
        self.path = table.parent / self.signature

    @property
    def id(self) -> str:
        return f"{self.table.parent.name}/{self.signature}:{self.policy}"

    def resource(self, name: str) -> Path | None:
        """A resource file named by the row, looked up beside the table."""
        if not name:
            return None
        for candidate in (
            self.table.parent / name,
            self.table.parent / "resources" / Path(name).name,
        ):
            if candidate.is_file():
                return candidate
        return None


def pack_rows() -> list[PackRow]:
    """Every test-pack row whose signature file is present here."""
    import csv

    rows: list[PackRow] = []
    for table in sorted((KSI / "test_pack").glob("*/*.csv")):
        with open(table, newline="", encoding="utf-8") as f:
            for cols in csv.reader(f, delimiter=";"):
                if not cols or cols[0].startswith("#") or not cols[0].strip():
                    continue
                row = PackRow(table, cols)
                if row.path.is_file():
                    rows.append(row)
    return rows


def trusted_pubfile(name: str):  # type: ignore[no-untyped-def]
    """A libksi publications file as the policies need it (relative to vectors/ksi/).

    Files with a trust anchor in the vectors are verified (CMS, signer path,
    e-mail constraint); Guardtime's real 2024 file
    cannot be anchored offline (its GlobalSign root is not shipped) and is
    trusted explicitly, as the reference verifier trusts a file the user hands
    in.
    """
    from jura_trust import pki
    from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile

    anchors = {
        "publications.tlv": "certs/mock.crt",
        "publications-file-resigned.bin": "certs/cert-file-for-deprecated-algorithm-in-calendar-chain.pem",
        "publications-file-for-deprecated-algorithm-in-calendar-chain.bin": "certs/cert-file-for-deprecated-algorithm-in-calendar-chain.pem",
    }
    path = Path(name) if Path(name).is_absolute() else KSI / name
    pubfile = PublicationsFile.parse(path.read_bytes())
    anchor = anchors.get(path.name)
    if anchor is None:
        return VerifiedPublicationsFile.unchecked(
            pubfile, "libksi test vector; its root certificate is not available offline"
        )
    cert = pki.load_certificate(ksi_bytes(anchor))
    # publications.tlv was re-signed with a certificate valid 2020-2040: check
    # it now; the 2024 test anchor expired in 2026: check at the file's time
    at = None if path.name == "publications.tlv" else pubfile.creation_time
    # the files under libksi's 2016 test signer are signed with SHA-1, after
    # KSI's 2016-07-01 cut-off: accepted by explicit opt-in only
    sha1 = anchor.startswith("certs/cert-file-for-deprecated-algorithm")
    return pubfile.trusted([cert], {"E": "publications@guardtime.com"}, at_time=at, allow_sha1=sha1)
