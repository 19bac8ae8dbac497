"""``sign``, ``verify``, ``extend``, ``inspect``, ``publication``, ``publish``.

Exit status of ``verify``: 0 OK, 1 FAIL, 2 NA (inconclusive), 3 input that
cannot be read (format errors), 4 a trust or service error; with several
files, the worst of them (:data:`~jura_trust.cli._common.SEVERITY`). Other
commands: 0 on success, 3 for unreadable input, 4 for a service or trust
error, 64 for a usage error, 70 for an internal error.

``sign``, ``extend`` and ``verify`` use the embedded backend (``--home``)
unless given a remote KSI service (``--aggregator``, ``--extender``,
``--publications-url`` with ``--login`` and ``--key``, or the configuration
``jura-trust trust pin`` wrote), which they reach with the ``ksi_http``
backend.

Only what ``verify`` runs is imported at start-up: the backends, the HTTP
client and PKI are imported by the functions that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jura_trust.cli import _common as c
from jura_trust.core.hashing import DataHasher, HashAlgorithm, Imprint
from jura_trust.core.signature import Signature
from jura_trust.core.tlv import MAX_INPUT_SIZE
from jura_trust.errors import ErrorCode, FormatError, JuraError, Outcome
from jura_trust.verify.policies import Policy

if TYPE_CHECKING:
    from jura_trust.core.chains import AggregationChain, AggregationLink
    from jura_trust.verify.result import VerificationResult

__all__ = ["register"]

_OUTCOME_EXIT = {Outcome.OK: c.EXIT_OK, Outcome.FAIL: c.EXIT_FAIL, Outcome.NA: c.EXIT_NA}
#: What a directory given to ``verify`` contributes.
SIGNATURE_SUFFIXES = (".ksig",)


class _Progress:
    """A minimal progress bar on standard error (only for a terminal)."""

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.total = max(total, 1)
        self.done = 0
        self.enabled = total >= c.PROGRESS_THRESHOLD and sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.enabled:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            sys.stderr.write(f"\r  hashing {self.name} [{bar:<30}] {frac:6.1%}")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _hash_stdin(algorithm: HashAlgorithm) -> Imprint:
    hasher = DataHasher(algorithm)
    try:
        hasher.update_stream(sys.stdin.buffer)
    except OSError as exc:
        raise FormatError(
            f"cannot read standard input: {exc.strerror or exc}", code=ErrorCode.FMT_IO
        ) from None
    return hasher.imprint()


def _hash_with_progress(path: Path, algorithm: HashAlgorithm) -> Imprint:
    """The imprint of a regular file (FMT-20 for a FIFO, a device, a directory)."""
    from jura_trust import _files  # noqa: PLC0415

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}", code=ErrorCode.FMT_IO) from None
    progress = _Progress(path.name, size)
    hasher = DataHasher(algorithm)
    try:
        with _files.open_regular(path) as f:
            hasher.update_stream(f, progress=progress)
    except OSError as exc:
        raise FormatError(
            f"cannot read {path!s}: {exc.strerror or exc}", code=ErrorCode.FMT_IO
        ) from None
    finally:
        progress.finish()
    return hasher.imprint()


def _load_signature(path: str) -> Signature:
    return Signature.from_bytes(c.read_file(path, limit=MAX_INPUT_SIZE))


# -- sign ---------------------------------------------------------------------------------


def _sign_targets(args: argparse.Namespace) -> list[Path]:
    """Where each signature goes: ``FILE.ksig`` beside each file, or ``--output``."""
    files: list[str] = args.files
    if files.count(c.STDIN) > 1:
        raise c.UsageError("standard input (-) can be signed once per command")
    if args.output is not None:
        if len(files) != 1:
            raise c.UsageError("--output needs exactly one FILE")
        targets = [Path(args.output)]
    elif c.STDIN in files:
        raise c.UsageError("signing standard input (-) needs --output PATH")
    else:
        targets = [Path(p).with_name(Path(p).name + ".ksig") for p in files]
    if not args.force:
        existing = [str(t) for t in targets if t.exists() or t.is_symlink()]
        if existing:
            raise c.UsageError(
                f"{', '.join(existing)} already exist(s): give --force to replace a signature"
            )
    return targets


def _cmd_sign(args: argparse.Namespace) -> int:
    from jura_trust.api import save_signature  # noqa: PLC0415

    algorithm = HashAlgorithm.from_name(args.hash)
    targets = _sign_targets(args)
    imprints = [
        _hash_stdin(algorithm) if p == c.STDIN else _hash_with_progress(Path(p), algorithm)
        for p in args.files
    ]
    if args.aggregator or (c.client_config(args).aggregator and not c.home_given(args)):
        with c.http_backend(args) as remote:
            signatures = remote.sign_many(imprints)
    else:
        with c.open_embedded(args.home) as backend:
            signatures = backend.sign_many(imprints)
    results = []
    # Written only now: the calendar leaf, the keys and the publications
    # file every signature depends on are durable once signing returned.
    for path, sig, dest in zip(args.files, signatures, targets, strict=True):
        target = save_signature(sig, dest)
        results.append(
            {
                "file": path,
                "signature": str(target),
                "document_hash": str(sig.document_hash),
                **c.times("aggregation_time", sig.aggregation_time),
            }
        )
    if args.json:
        c.print_json({"signed": results})
    else:
        for r in results:
            print(f"signed {r['file']} -> {r['signature']} at {r['aggregation_time']}")
    return c.EXIT_OK


# -- verify -------------------------------------------------------------------------------


def _document_hash(
    args: argparse.Namespace, sig_path: str, sig: Signature
) -> tuple[Imprint | None, str | None]:
    """The document's imprint to compare, and what it came from.

    With neither ``--document`` nor ``--document-hash``, a file named like
    SIG without its ``.ksig`` suffix is the document when it exists (as
    ``ots verify`` does); otherwise nothing is compared, and the output says so.
    """
    if args.document == c.STDIN:
        return _hash_stdin(sig.document_hash.algorithm), "standard input"
    if args.document:
        return _hash_with_progress(Path(args.document), sig.document_hash.algorithm), args.document
    if args.document_hash:
        return Imprint.parse(args.document_hash), "the given document hash"
    path = Path(sig_path)
    if path.suffix == ".ksig":
        beside = path.with_suffix("")
        # Anything at that path counts (a FIFO, a directory, a dangling
        # symlink): it is read as the document and fails with FMT-19/FMT-20
        # instead of passing as "not compared".
        if os.path.lexists(beside):
            return _hash_with_progress(beside, sig.document_hash.algorithm), str(beside)
    return None, None


def _cmd_verify(args: argparse.Namespace) -> int:
    from jura_trust.trust import Verifier  # noqa: PLC0415 - lazy: start-up

    files = c.expand_inputs(args.signatures, SIGNATURE_SUFFIXES)
    several = len(files) > 1
    if several and (args.document or args.document_hash):
        raise c.UsageError(
            "--document and --document-hash name one document: verify one SIG with them "
            "(with several, the file beside each SIG.ksig is compared)"
        )
    statuses: list[int] = []
    with c.Resources(args) as res:
        verifier: Verifier | None = None
        for path in files:
            try:
                sig = _load_signature(path)
                document_hash, source = _document_hash(args, path, sig)
                if verifier is None:  # trust is assembled once, after the first input reads
                    verifier = Verifier(c.trust_from_args(args, res))
                result = verifier.verify(
                    sig,
                    document_hash=document_hash,
                    policy=args.policy,
                    input_level=args.input_level,
                )
            except JuraError as exc:
                statuses.append(_report_error(args, path, exc, several=several))
                continue
            _report_verification(args, path, sig, result, source, several=several)
            statuses.append(_OUTCOME_EXIT[result.outcome])
    status = c.worst(statuses)
    if several and not args.json:
        _summary(statuses)
    return status


def _summary(statuses: list[int]) -> None:
    names = {
        c.EXIT_OK: "OK",
        c.EXIT_FAIL: "FAIL",
        c.EXIT_NA: "NA",
        c.EXIT_FORMAT: "unreadable",
        c.EXIT_ERROR: "error",
    }
    counts = {name: statuses.count(code) for code, name in names.items()}
    parts = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    print(f"{len(statuses)} file(s): {parts}")


def _report_error(args: argparse.Namespace, path: str, exc: JuraError, *, several: bool) -> int:
    """One signature that could not be verified: its line, its status (3 or 4)."""
    if args.json:
        obj = c.jura_error_object(
            exc, file=path, aggregation_time=None, document_hash=None, rules=[]
        )
        c.print_json(obj, line=True)
    else:
        where = f"{path}: " if several else ""
        print(f"jura-trust: error [{exc.code.value}]: {where}{exc.message}", file=sys.stderr)
    return c.error_status(exc)


def _report_verification(
    args: argparse.Namespace,
    path: str,
    sig: Signature,
    result: VerificationResult,
    document_source: str | None,
    *,
    several: bool,
) -> None:
    claimed = sig.aggregation_chains[0].aggregation_time
    if args.json:
        obj: dict[str, Any] = {"file": path, "valid": result.ok, **result.as_dict()}
        obj.update(
            {
                **c.times("aggregation_time", claimed),
                **c.times("proven_aggregation_time", result.aggregation_time),
                "document_hash": str(sig.document_hash),
                "document": document_source,
                **c.times("publication_time", sig.publication_time),
                "issuer": list(sig.issuer),
                "extended": sig.is_extended,
            }
        )
        c.print_json(obj, line=True)
        return
    mark = {Outcome.OK: "OK", Outcome.FAIL: "FAIL", Outcome.NA: "NA (inconclusive)"}
    code = f" [{result.code.value}]" if result.code else ""
    if several:  # one line per file; -v adds the rules
        print(f"{mark[result.outcome]}{code}: {path}: {result.message}")
        if args.verbose:
            for step in result.steps:
                code_ = f" [{step.code.value}]" if step.code else ""
                print(f"    {step.outcome.value:<4} {step.rule}{code_} {step.message}")
        return
    print(f"{mark[result.outcome]}{code}: {result.message} ({result.policy} policy)")
    if result.ok:
        print(f"  signed at   {c.iso(result.aggregation_time)}")
    else:
        print(f"  claims      signed at {c.iso(claimed)} (not proven)")
    if document_source is None:
        print("  document    NOT COMPARED: give --document FILE or --document-hash ALG:HEX")
    else:
        state = "matches" if result.ok else "compared"
        print(f"  document    {sig.document_hash} ({state}: {document_source})")
    if sig.issuer:
        print(f"  issuer      {' / '.join(sig.issuer)}")
    if result.ok:
        print(f"  rests on    {result.anchor.description}")
    if args.verbose:
        for step in result.steps:
            code_ = f" [{step.code.value}]" if step.code else ""
            print(f"    {step.outcome.value:<4} {step.rule}{code_} {step.message}")


# -- extend -------------------------------------------------------------------------------


def _cmd_extend(args: argparse.Namespace) -> int:
    from jura_trust._timefmt import parse_time  # noqa: PLC0415
    from jura_trust.api import save_signature  # noqa: PLC0415
    from jura_trust.core.publication import encode_publication_string  # noqa: PLC0415

    sig = _load_signature(args.signature)
    t = parse_time(args.publication_time) if args.publication_time else None
    config = c.client_config(args)
    if args.extender or (config.extender and not c.home_given(args)):
        if t is None and not (args.publications_url or config.publications_url):
            raise c.UsageError("--extender needs --publications-url or --publication-time")
        with c.http_backend(args) as remote:
            extended = remote.extend(sig, t)
    else:
        with c.open_embedded(args.home, create=False) as backend:  # extending only reads
            extended = backend.extend(sig, t)
    target = Path(args.output) if args.output else Path(args.signature)
    save_signature(extended, target)
    pub = extended.publication_record
    assert pub is not None
    if args.json:
        c.print_json(
            {
                "signature": str(target),
                **c.times("publication_time", pub.publication_time),
                "publication_string": encode_publication_string(pub.published_data),
            }
        )
    else:
        print(f"extended {args.signature} to {c.iso(pub.publication_time)} -> {target}")
    return c.EXIT_OK


# -- inspect ------------------------------------------------------------------------------


def _link_obj(link: AggregationLink) -> dict[str, Any]:
    meta = link.metadata
    return {
        "direction": "left" if link.is_left else "right",
        "level_correction": link.level_correction,
        "sibling": str(link.sibling) if link.sibling is not None else None,
        "legacy_id": link.legacy_id.hex() if link.legacy_id else None,
        "metadata": None
        if meta is None
        else {
            "client_id": meta.client_id,
            "machine_id": meta.machine_id,
            "sequence_number": meta.sequence_number,
            "request_time_us": meta.request_time,
        },
    }


def _chain_obj(chain: AggregationChain) -> dict[str, Any]:
    return {
        **c.times("aggregation_time", chain.aggregation_time),
        "chain_index": list(chain.chain_index),
        "input_hash": str(chain.input_hash),
        "algorithm": chain.algorithm.ksi_name,
        "links": [_link_obj(link) for link in chain.links],
    }


def _inspect_obj(sig: Signature) -> dict[str, Any]:
    from jura_trust.core.publication import encode_publication_string  # noqa: PLC0415

    chains = [_chain_obj(chain) for chain in sig.aggregation_chains]
    cal = sig.calendar_chain
    obj: dict[str, Any] = {
        "document_hash": str(sig.document_hash),
        **c.times("aggregation_time", sig.aggregation_time),
        "issuer": list(sig.issuer),
        "aggregation_chains": chains,
        "calendar_chain": None,
        "publication_record": None,
        "calendar_auth_record": None,
        "rfc3161_record": sig.rfc3161_record is not None,
    }
    if cal is not None:
        obj["calendar_chain"] = {
            **c.times("publication_time", cal.publication_time),
            **c.times("aggregation_time", cal.aggregation_time),
            "input_hash": str(cal.input_hash),
            "links": len(cal.links),
        }
    if sig.publication_record is not None:
        rec = sig.publication_record
        obj["publication_record"] = {
            **c.times("publication_time", rec.publication_time),
            "published_hash": str(rec.published_hash),
            "publication_string": encode_publication_string(rec.published_data),
            "references": list(rec.references),
        }
    if sig.calendar_auth_record is not None:
        auth = sig.calendar_auth_record
        obj["calendar_auth_record"] = {
            **c.times("publication_time", auth.published_data.publication_time),
            "published_hash": str(auth.published_data.published_hash),
            "signature_type": auth.signature_data.signature_type,
            "certificate_id": auth.signature_data.certificate_id.hex(),
        }
    return obj


def _cmd_inspect(args: argparse.Namespace) -> int:
    sig = _load_signature(args.signature)
    obj = _inspect_obj(sig)
    if args.json:
        c.print_json(obj)
        return c.EXIT_OK
    print(f"KSI signature {args.signature}")
    print(f"  document hash    {obj['document_hash']}")
    print(f"  signed at        {obj['aggregation_time']} ({obj['aggregation_time_unix']})")
    print(f"  issuer           {' / '.join(obj['issuer']) or '(no metadata)'}")
    for i, chain in enumerate(obj["aggregation_chains"]):
        print(
            f"  aggregation chain {i}: {len(chain['links'])} links, {chain['algorithm']}, "
            f"index {chain['chain_index']}"
        )
    if obj["calendar_chain"]:
        cc = obj["calendar_chain"]
        print(f"  calendar chain   {cc['links']} links to {cc['publication_time']}")
    if obj["publication_record"]:
        p = obj["publication_record"]
        print(f"  anchor           publication {p['publication_time']}")
        print(f"                   {p['publication_string']}")
        for ref in p["references"]:
            print(f"  reference        {ref} (a hint: not covered by the signature)")
    elif obj["calendar_auth_record"]:
        a = obj["calendar_auth_record"]
        print(f"  anchor           calendar auth record, certificate {a['certificate_id']}")
    else:
        print("  anchor           none (extend the signature to anchor it)")
    if obj["rfc3161_record"]:
        print("  legacy           RFC 3161 compatibility record")
    return c.EXIT_OK


# -- publication, publish -------------------------------------------------------------------


def _cmd_publication(args: argparse.Namespace) -> int:
    from jura_trust.core.publication import encode_publication_string  # noqa: PLC0415

    with c.open_embedded(args.home, create=False) as backend:
        rec = backend.latest_publication()
        if rec is None:
            raise JuraError(
                "no publication yet: run 'jura-trust publish' (or wait for the service's "
                "publication schedule)",
                code=ErrorCode.SVC_NO_PUBLICATION,
            )
        text = encode_publication_string(rec.published_data)
    if args.json:
        c.print_json(
            {
                **c.times("publication_time", rec.publication_time),
                "published_hash": str(rec.published_hash),
                "publication_string": text,
            }
        )
    else:
        print(text)
    return c.EXIT_OK


def _cmd_publish(args: argparse.Namespace) -> int:
    from jura_trust._timefmt import parse_time  # noqa: PLC0415
    from jura_trust.core.publication import encode_publication_string  # noqa: PLC0415

    t = parse_time(args.at) if args.at else None
    with c.open_embedded(args.home) as backend:
        rec = backend.publish(t)
        text = encode_publication_string(rec.published_data)
    if args.json:
        c.print_json(
            {
                **c.times("publication_time", rec.publication_time),
                "published_hash": str(rec.published_hash),
                "publication_string": text,
            }
        )
    else:
        print(f"published {c.iso(rec.publication_time)}: {text}")
    return c.EXIT_OK


# -- parser --------------------------------------------------------------------------------


def _add_trust_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-anchor", action="append", default=[], metavar="PEM")
    p.add_argument("--cert-constraint", action="append", default=[], metavar="OID=VALUE")


def register(sub: Any) -> None:
    """Add the KSI signature commands to the ``jura-trust`` subparsers."""
    p = sub.add_parser("sign", help="sign files; writes FILE.ksig beside each (one round)")
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="regular files (a FIFO or a device is refused, FMT-20); - reads standard input",
    )
    p.add_argument(
        "--output", "-o", metavar="PATH", help="where the signature goes (one FILE; needed for -)"
    )
    p.add_argument(
        "--force", "-f", action="store_true", help="replace signatures that already exist"
    )
    p.add_argument("--hash", default="SHA-256", help="hash algorithm (default SHA-256)")
    p.add_argument("--json", action="store_true")
    c.add_home(p)
    c.add_remote(p, "aggregator")
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser(
        "verify",
        help="verify signatures (exit 0 OK, 1 FAIL, 2 NA, 3 unreadable, 4 trust/service; "
        "several: the worst)",
    )
    p.add_argument(
        "signatures",
        nargs="+",
        metavar="SIG",
        help="signature files, or directories (their *.ksig files, recursively)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--document", metavar="FILE", help="the signed file (- for standard input)")
    g.add_argument("--document-hash", metavar="ALG:HEX")
    p.add_argument("--input-level", type=int, default=0, metavar="N")
    p.add_argument("--policy", choices=[x.value for x in Policy], default=Policy.GENERAL.value)
    p.add_argument("--publications-file", metavar="PATH")
    p.add_argument("--publication-string", metavar="STR")
    _add_trust_flags(p)
    p.add_argument("--at", metavar="TIME", help="time for the certificate checks (default now)")
    p.add_argument(
        "--allow-sha1",
        action="store_true",
        help="accept a publications file signed with SHA-1 (untrusted since 2016-07-01)",
    )
    p.add_argument("--extending-allowed", action="store_true")
    p.add_argument("--extender-response", metavar="FILE")
    p.add_argument(
        "--extender-request",
        metavar="FILE",
        help="the recorded request of --extender-response: its request ids must match",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file (JSON Lines)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every rule run")
    c.add_home(p)
    c.add_remote(p, "extender")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("extend", help="extend a signature to a publication")
    p.add_argument("signature", metavar="SIG")
    p.add_argument("--publication-time", metavar="TIME")
    p.add_argument("--output", "-o", metavar="PATH", help="default: overwrite SIG")
    p.add_argument("--json", action="store_true")
    _add_trust_flags(p)
    c.add_home(p)
    c.add_remote(p, "extender")
    p.set_defaults(func=_cmd_extend)

    p = sub.add_parser("inspect", help="show a signature's chains, times, issuer and anchor")
    p.add_argument("signature", metavar="SIG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("publication", help="print the latest publication string")
    p.add_argument("--json", action="store_true")
    c.add_home(p)
    p.set_defaults(func=_cmd_publication)

    p = sub.add_parser("publish", help="publish the calendar head (embedded backend)")
    p.add_argument("--at", metavar="TIME", help="a calendar second to publish (default: head)")
    p.add_argument("--json", action="store_true")
    c.add_home(p)
    p.set_defaults(func=_cmd_publish)
