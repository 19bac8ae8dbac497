"""The ``jura-trust`` command.

Exit status of ``verify``: 0 OK, 1 FAIL, 2 NA (inconclusive), 3 input that
cannot be read (format errors). Other commands: 0 on success, 3 for
unreadable input, 4 for a service or trust error, 64 for a usage error.

``sign``, ``extend`` and ``verify`` use the embedded backend (``--home``)
unless given a remote KSI service (``--aggregator``, ``--extender``,
``--publications-url`` with ``--login`` and ``--key``), which they reach with
the ``ksi_http`` backend. ``serve`` runs the local KSI service (the
``service`` extra).
Every error is printed once, here, from its code and message; ``--json``
prints one JSON object on standard output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from jura_trust import _files, cli_qr, pki
from jura_trust._timefmt import format_time, parse_time
from jura_trust.api import hash_file, load_signature, save_signature
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.chains import AggregationChain, AggregationLink
from jura_trust.core.hashing import DataHasher, HashAlgorithm, Imprint
from jura_trust.core.publication import (
    encode_publication_string,
)
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, FormatError, JuraError, Outcome
from jura_trust.pdu import recorded_extender
from jura_trust.trust import TrustConfig, Verifier
from jura_trust.verify import Extender, Policy, VerificationResult

__all__ = ["EXIT_INTERNAL", "UsageError", "main", "trust_from_args"]

#: Environment variable naming the embedded backend's state directory.
HOME_ENV = "JURA_TRUST_HOME"
#: Environment variable holding the remote service key (instead of ``--key``).
KEY_ENV = "JURA_TRUST_KEY"
EXIT_OK, EXIT_FAIL, EXIT_NA, EXIT_FORMAT, EXIT_ERROR, EXIT_USAGE = 0, 1, 2, 3, 4, 64
#: Exit status for an unexpected internal error (a bug): never 1, which
#: means "proven bad".
EXIT_INTERNAL = 70
#: Files larger than this get a progress bar on a terminal.
PROGRESS_THRESHOLD = 32 * 1024 * 1024

_OUTCOME_EXIT = {Outcome.OK: EXIT_OK, Outcome.FAIL: EXIT_FAIL, Outcome.NA: EXIT_NA}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def default_home() -> Path:
    """The state directory: ``$JURA_TRUST_HOME`` or ``~/.local/share/jura-trust``."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jura-trust"


def _backend(args: argparse.Namespace, *, create: bool = True) -> EmbeddedBackend:
    """The embedded backend of ``--home``; read-only commands pass ``create=False``."""
    return EmbeddedBackend(args.home or default_home(), create=create)


def _client_key(args: argparse.Namespace) -> str | bytes | None:
    """The remote login's key: ``--key-file``, ``--key`` or ``$JURA_TRUST_KEY``."""
    key_file = getattr(args, "key_file", None)
    if key_file is not None:
        if args.key is not None:
            raise UsageError("give --key or --key-file, not both")
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise FormatError(
                f"cannot read the key file {key_file}: {exc.strerror}", code=ErrorCode.FMT_IO
            ) from None
        return data.rstrip(b"\r\n") or None
    return args.key if args.key is not None else os.environ.get(KEY_ENV)


def _http_backend(args: argparse.Namespace, *, need_login: bool = True) -> KsiHttpBackend:
    """The ``ksi_http`` backend the client flags describe."""
    key = _client_key(args)
    if need_login and (not args.login or not key):
        raise UsageError(
            f"a remote KSI service needs --login and --key-file (or ${KEY_ENV}, or --key)"
        )
    login_given = bool(args.login and key)
    anchors = _load_trust_anchors(getattr(args, "trust_anchor", []))
    constraints = _constraints(getattr(args, "cert_constraint", []))
    return KsiHttpBackend(
        getattr(args, "aggregator", None),
        getattr(args, "extender", None),
        args.publications_url,
        login=args.login if login_given else None,
        key=key if login_given else None,
        timeout=args.timeout,
        trust_anchors=anchors,
        cert_constraints=constraints,
    )


# -- output helpers ------------------------------------------------------------------


def _print_json(obj: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


class _Progress:
    """A minimal progress bar on standard error (only for a terminal)."""

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.total = max(total, 1)
        self.done = 0
        self.enabled = total >= PROGRESS_THRESHOLD and sys.stderr.isatty()

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


#: The file name that means standard input.
STDIN = "-"


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
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}", code=ErrorCode.FMT_IO) from None
    progress = _Progress(path.name, size)
    try:
        return hash_file(path, algorithm, progress=progress)
    finally:
        progress.finish()


# -- commands ---------------------------------------------------------------------------


def _sign_targets(args: argparse.Namespace) -> list[Path]:
    """Where each signature goes: ``FILE.ksig`` beside each file, or ``--output``."""
    files: list[str] = args.files
    if files.count(STDIN) > 1:
        raise ValueError("standard input (-) can be signed once per command")
    if args.output is not None:
        if len(files) != 1:
            raise ValueError("--output needs exactly one FILE")
        return [Path(args.output)]
    if STDIN in files:
        raise ValueError("signing standard input (-) needs --output PATH")
    return [Path(p).with_name(Path(p).name + ".ksig") for p in files]


def _cmd_sign(args: argparse.Namespace) -> int:
    algorithm = HashAlgorithm.from_name(args.hash)
    targets = _sign_targets(args)
    paths = [Path(p) for p in args.files]
    imprints = [
        _hash_stdin(algorithm) if p == STDIN else _hash_with_progress(Path(p), algorithm)
        for p in args.files
    ]
    if args.aggregator:
        with _http_backend(args) as remote:
            signatures = remote.sign_many(imprints)
    else:
        with _backend(args) as backend:
            signatures = backend.sign_many(imprints)
    results = []
    # Written only now: the calendar leaf, the keys and the publications
    # file every signature depends on are durable once signing returned.
    for path, sig, dest in zip(paths, signatures, targets, strict=True):
        target = save_signature(sig, dest)
        results.append(
            {
                "file": str(path),
                "signature": str(target),
                "document_hash": str(sig.document_hash),
                "aggregation_time": format_time(sig.aggregation_time),
            }
        )
    if args.json:
        _print_json({"signed": results})
    else:
        for r in results:
            print(f"signed {r['file']} -> {r['signature']} at {r['aggregation_time']}")
    return EXIT_OK


def _read_file(path: str) -> bytes:
    """A regular file's bytes; FMT-19 unreadable, FMT-20 not a regular file (exit 3)."""
    return _files.read_regular(path)


def _load_trust_anchors(paths: Sequence[str]) -> list[Any]:
    anchors: list[Any] = []
    for p in paths:
        anchors.extend(pki.load_certificates(_read_file(p)))
    return anchors


def _constraints(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        oid, sep, value = item.partition("=")
        if not sep or not oid or not value:
            raise FormatError(
                f"certificate constraint {item!r} is not OID=VALUE",
                code=ErrorCode.FMT_BAD_CERTIFICATE,
            )
        out[oid.strip()] = value
    return out


def _document_hash(args: argparse.Namespace, sig: Signature) -> tuple[Imprint | None, str | None]:
    """The document's imprint to compare, and what it came from.

    With neither ``--document`` nor ``--document-hash``, a file named like
    SIG without its ``.ksig`` suffix is the document when it exists (as
    ``ots verify`` does); otherwise nothing is compared, and the output says so.
    """
    if args.document and args.document_hash:
        raise UsageError("give --document or --document-hash, not both")
    if args.document == STDIN:
        return _hash_stdin(sig.document_hash.algorithm), "standard input"
    if args.document:
        return _hash_with_progress(Path(args.document), sig.document_hash.algorithm), args.document
    if args.document_hash:
        return Imprint.parse(args.document_hash), "the given document hash"
    sig_path = Path(args.signature)
    if sig_path.suffix == ".ksig":
        beside = sig_path.with_suffix("")
        if beside.is_file():
            return _hash_with_progress(beside, sig.document_hash.algorithm), str(beside)
    return None, None


class _Resources:
    """Backends opened while assembling trust; closed after the command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._embedded: EmbeddedBackend | None = None
        self._remote: list[KsiHttpBackend] = []

    def embedded(self) -> EmbeddedBackend:
        if self._embedded is None:
            self._embedded = _backend(self.args, create=False)
        return self._embedded

    def remote(self, *, need_login: bool = True) -> KsiHttpBackend:
        client = _http_backend(self.args, need_login=need_login)
        self._remote.append(client)
        return client

    def __enter__(self) -> _Resources:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._embedded is not None:
            self._embedded.close()
        for r in self._remote:
            r.close()


def trust_from_args(args: argparse.Namespace, res: _Resources) -> TrustConfig:
    """The one place the command line assembles trust (``verify``, ``extend``).

    An explicit publications file (``--publications-file`` or
    ``--publications-url``) is checked against ``--trust-anchor`` and
    ``--cert-constraint``; with no anchor, the embedded home's publisher
    certificate and e-mail are the trust configuration. Without a file, the
    home's own publications file is trusted when the home exists; an empty
    home trusts nothing (the policies then say NA). Read-only commands never
    create a home.
    """
    policy = getattr(args, "policy", Policy.GENERAL.value)
    at = parse_time(args.at) if getattr(args, "at", None) else None
    data: bytes | None = None
    pub_file = getattr(args, "publications_file", None)
    pub_url = getattr(args, "publications_url", None)
    if pub_file and pub_url:
        raise UsageError("give --publications-file or --publications-url, not both")
    if pub_file:
        data = _read_file(pub_file)
    elif pub_url:
        data = res.remote(need_login=False).publications_file_bytes()
    anchors = _load_trust_anchors(args.trust_anchor)
    constraints = _constraints(args.cert_constraint)
    if data is not None and not anchors:
        home = res.embedded()
        anchors = [home.publisher_certificate]
        constraints = constraints or {"E": home.publisher_email}
    extender: Extender | None = None
    name = "the extender"
    response = getattr(args, "extender_response", None)
    extending = bool(getattr(args, "extending_allowed", False))
    request_file = getattr(args, "extender_request", None)
    if request_file and not response:
        raise UsageError("--extender-request needs --extender-response")
    if response:
        request = _read_file(request_file) if request_file else None
        extender = recorded_extender(_read_file(response), request=request)
        name = f"the recorded extender response {response}"
        extending = True
    elif getattr(args, "extender", None):
        extender = res.remote().extend_calendar
        name = args.extender
        extending = True
    elif extending or policy == Policy.CALENDAR.value:
        extender = res.embedded().extend_calendar
        name = "the embedded home's calendar"
    trust = TrustConfig.from_files(
        publications_file=data,
        trust_anchors=anchors,
        cert_constraints=constraints,
        publication_string=getattr(args, "publication_string", None),
        extender=extender,
        extender_name=name,
        extending_allowed=extending,
        at=at,
        allow_sha1=bool(getattr(args, "allow_sha1", False)),
    )
    if data is None and policy not in (Policy.INTERNAL.value, Policy.USER_PUBLICATION.value):
        try:
            home_file = res.embedded().trusted_publications_file(at)
        except BackendError as exc:
            if exc.code is not ErrorCode.SVC_CONFIG:
                raise
        else:
            trust = trust.evolve(
                publications_file=home_file,
                sources=(*trust.sources, "the publications file of the embedded home"),
            )
    return trust


def _cmd_verify(args: argparse.Namespace) -> int:
    sig = load_signature(args.signature)
    document_hash, document_source = _document_hash(args, sig)
    with _Resources(args) as res:
        trust = trust_from_args(args, res)
        result = Verifier(trust).verify(
            sig, document_hash=document_hash, policy=args.policy, input_level=args.input_level
        )
    _report_verification(args, sig, result, document_source)
    return _OUTCOME_EXIT[result.outcome]


def _report_verification(
    args: argparse.Namespace,
    sig: Signature,
    result: VerificationResult,
    document_source: str | None,
) -> None:
    claimed = sig.aggregation_chains[0].aggregation_time
    if args.json:
        obj = result.as_dict()
        obj.update(
            {
                "aggregation_time": claimed,
                "aggregation_time_iso": format_time(claimed),
                "proven_aggregation_time": format_time(result.aggregation_time),
                "document_hash": str(sig.document_hash),
                "document": document_source,
                "publication_time": sig.publication_time,
                "issuer": list(sig.issuer),
                "extended": sig.is_extended,
            }
        )
        _print_json(obj)
        return
    mark = {Outcome.OK: "OK", Outcome.FAIL: "FAIL", Outcome.NA: "NA (inconclusive)"}
    code = f" [{result.code.value}]" if result.code else ""
    print(f"{mark[result.outcome]}{code}: {result.message} ({result.policy} policy)")
    if result.ok:
        print(f"  signed at   {format_time(result.aggregation_time)}")
    else:
        print(f"  claims      signed at {format_time(claimed)} (not proven)")
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
            c = f" [{step.code.value}]" if step.code else ""
            print(f"    {step.outcome.value:<4} {step.rule}{c} {step.message}")


def _cmd_extend(args: argparse.Namespace) -> int:
    sig = load_signature(args.signature)
    t = parse_time(args.publication_time) if args.publication_time else None
    if args.extender:
        if t is None and not args.publications_url:
            raise UsageError("--extender needs --publications-url or --publication-time")
        with _http_backend(args) as remote:
            extended = remote.extend(sig, t)
    else:
        with _backend(args, create=False) as backend:  # extending only reads the home
            extended = backend.extend(sig, t)
    target = Path(args.output) if args.output else Path(args.signature)
    save_signature(extended, target)
    pub = extended.publication_record
    assert pub is not None
    if args.json:
        _print_json(
            {
                "signature": str(target),
                "publication_time": pub.publication_time,
                "publication_string": encode_publication_string(pub.published_data),
            }
        )
    else:
        print(f"extended {args.signature} to {format_time(pub.publication_time)} -> {target}")
    return EXIT_OK


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
        "aggregation_time": chain.aggregation_time,
        "chain_index": list(chain.chain_index),
        "input_hash": str(chain.input_hash),
        "algorithm": chain.algorithm.ksi_name,
        "links": [_link_obj(link) for link in chain.links],
    }


def _inspect_obj(sig: Signature) -> dict[str, Any]:
    chains = [_chain_obj(chain) for chain in sig.aggregation_chains]
    cal = sig.calendar_chain
    obj: dict[str, Any] = {
        "document_hash": str(sig.document_hash),
        "aggregation_time": sig.aggregation_time,
        "aggregation_time_iso": format_time(sig.aggregation_time),
        "issuer": list(sig.issuer),
        "aggregation_chains": chains,
        "calendar_chain": None,
        "publication_record": None,
        "calendar_auth_record": None,
        "rfc3161_record": sig.rfc3161_record is not None,
    }
    if cal is not None:
        obj["calendar_chain"] = {
            "publication_time": cal.publication_time,
            "publication_time_iso": format_time(cal.publication_time),
            "aggregation_time": cal.aggregation_time,
            "input_hash": str(cal.input_hash),
            "links": len(cal.links),
        }
    if sig.publication_record is not None:
        rec = sig.publication_record
        obj["publication_record"] = {
            "publication_time": rec.publication_time,
            "published_hash": str(rec.published_hash),
            "publication_string": encode_publication_string(rec.published_data),
            "references": list(rec.references),
        }
    if sig.calendar_auth_record is not None:
        auth = sig.calendar_auth_record
        obj["calendar_auth_record"] = {
            "publication_time": auth.published_data.publication_time,
            "published_hash": str(auth.published_data.published_hash),
            "signature_type": auth.signature_data.signature_type,
            "certificate_id": auth.signature_data.certificate_id.hex(),
        }
    return obj


def _cmd_inspect(args: argparse.Namespace) -> int:
    sig = load_signature(args.signature)
    obj = _inspect_obj(sig)
    if args.json:
        _print_json(obj)
        return EXIT_OK
    print(f"KSI signature {args.signature}")
    print(f"  document hash    {obj['document_hash']}")
    print(f"  signed at        {obj['aggregation_time_iso']} ({obj['aggregation_time']})")
    print(f"  issuer           {' / '.join(obj['issuer']) or '(no metadata)'}")
    for i, chain in enumerate(obj["aggregation_chains"]):
        print(
            f"  aggregation chain {i}: {len(chain['links'])} links, {chain['algorithm']}, "
            f"index {chain['chain_index']}"
        )
    if obj["calendar_chain"]:
        c = obj["calendar_chain"]
        print(f"  calendar chain   {c['links']} links to {c['publication_time_iso']}")
    if obj["publication_record"]:
        p = obj["publication_record"]
        print(f"  anchor           publication {format_time(p['publication_time'])}")
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
    return EXIT_OK


def _cmd_publication(args: argparse.Namespace) -> int:
    with _backend(args, create=False) as backend:
        rec = backend.latest_publication()
        if rec is None:
            raise JuraError("no publication yet", code=ErrorCode.SVC_NO_PUBLICATION)
        text = encode_publication_string(rec.published_data)
    if args.json:
        _print_json(
            {
                "publication_time": rec.publication_time,
                "publication_time_iso": format_time(rec.publication_time),
                "published_hash": str(rec.published_hash),
                "publication_string": text,
            }
        )
    else:
        print(text)
    return EXIT_OK


def _cmd_publish(args: argparse.Namespace) -> int:
    t = parse_time(args.at) if args.at else None
    with _backend(args) as backend:
        rec = backend.publish(t)
        text = encode_publication_string(rec.published_data)
    if args.json:
        _print_json({"publication_time": rec.publication_time, "publication_string": text})
    else:
        print(f"published {format_time(rec.publication_time)}: {text}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from jura_trust import service  # noqa: PLC0415 - the optional 'service' extra
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("aiohttp"):
            raise
        raise JuraError(
            "the local service needs the 'service' extra: pip install 'jura-trust[service]'",
            code=ErrorCode.SVC_CONFIG,
        ) from None
    home = Path(args.home) if args.home else default_home()
    config = service.load_config(args.config, home=home).with_overrides(
        home=args.home,
        listen=args.listen,
        round_ms=args.round_ms,
        logins=args.login,
        login_files=args.login_file,
        login_envs=args.login_env,
        schedule=args.publish_schedule,
        tcp_listen=args.tcp_listen,
    )
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    service.serve(config)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from jura_trust import _demo  # noqa: PLC0415 - only the demo needs it

    home = Path(args.home) if args.home else None
    if home is None:
        with tempfile.TemporaryDirectory(prefix="jura-trust-demo-") as tmp:
            return _demo.run(Path(tmp))
    return _demo.run(home)


# -- parser --------------------------------------------------------------------------------


def _add_home(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--home",
        help=f"state directory of the embedded backend (default: ${HOME_ENV} or "
        "~/.local/share/jura-trust)",
    )


def _add_remote(p: argparse.ArgumentParser, *endpoints: str) -> None:
    g = p.add_argument_group("remote KSI service (the ksi_http backend)")
    if "aggregator" in endpoints:
        g.add_argument(
            "--aggregator", metavar="URL", help="aggregator URL (http(s):// or ksi+tcp://)"
        )
    if "extender" in endpoints:
        g.add_argument("--extender", metavar="URL", help="extender URL (http(s):// or ksi+tcp://)")
    g.add_argument("--publications-url", metavar="URL", help="publications file URL")
    g.add_argument("--login", metavar="NAME", help="login id for the aggregator and extender")
    g.add_argument(
        "--key",
        metavar="KEY",
        help=f"the login's HMAC key (shows in ps: prefer --key-file or ${KEY_ENV})",
    )
    g.add_argument(
        "--key-file", metavar="PATH", help="file holding the login's HMAC key (one line)"
    )
    g.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds per attempt (default 10)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog="jura-trust",
        description="Keyless (KSI) signatures: sign, extend, verify and inspect receipts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="sign and verify a sample document end to end")
    _add_home(p)
    p.set_defaults(func=_cmd_demo)

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
    p.add_argument("--hash", default="SHA-256", help="hash algorithm (default SHA-256)")
    p.add_argument("--json", action="store_true")
    _add_home(p)
    _add_remote(p, "aggregator")
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser("verify", help="verify a signature (exit 0 OK, 1 FAIL, 2 NA, 3 unreadable)")
    p.add_argument("signature", metavar="SIG")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--document", metavar="FILE", help="the signed file (- for standard input)")
    g.add_argument("--document-hash", metavar="ALG:HEX")
    p.add_argument("--input-level", type=int, default=0, metavar="N")
    p.add_argument("--policy", choices=[x.value for x in Policy], default=Policy.GENERAL.value)
    p.add_argument("--publications-file", metavar="PATH")
    p.add_argument("--publication-string", metavar="STR")
    p.add_argument("--trust-anchor", action="append", default=[], metavar="PEM")
    p.add_argument("--cert-constraint", action="append", default=[], metavar="OID=VALUE")
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
    p.add_argument("--json", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="list every rule run")
    _add_home(p)
    _add_remote(p, "extender")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("extend", help="extend a signature to a publication")
    p.add_argument("signature", metavar="SIG")
    p.add_argument("--publication-time", metavar="TIME")
    p.add_argument("--output", "-o", metavar="PATH", help="default: overwrite SIG")
    p.add_argument("--json", action="store_true")
    p.add_argument("--trust-anchor", action="append", default=[], metavar="PEM")
    p.add_argument("--cert-constraint", action="append", default=[], metavar="OID=VALUE")
    _add_home(p)
    _add_remote(p, "extender")
    p.set_defaults(func=_cmd_extend)

    p = sub.add_parser("inspect", help="show a signature's chains, times, issuer and anchor")
    p.add_argument("signature", metavar="SIG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("publication", help="print the latest publication string")
    p.add_argument("--json", action="store_true")
    _add_home(p)
    p.set_defaults(func=_cmd_publication)

    p = sub.add_parser("publish", help="publish the calendar head (embedded backend)")
    p.add_argument("--at", metavar="TIME", help="a calendar second to publish (default: head)")
    p.add_argument("--json", action="store_true")
    _add_home(p)
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser("serve", help="run the local KSI service (aggregator, extender, publisher)")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (docs/service.md)")
    p.add_argument("--listen", metavar="HOST:PORT", help="default 127.0.0.1:8080 (port 0: any)")
    p.add_argument(
        "--round-ms", type=int, metavar="N", help="round length in ms, 1000..60000 (default 1000)"
    )
    p.add_argument(
        "--tcp-listen",
        metavar="HOST:PORT",
        help="also serve raw PDUs over TCP (ksi+tcp://) on HOST:PORT (port 0: any)",
    )
    p.add_argument(
        "--login",
        action="append",
        default=[],
        metavar="NAME:KEY",
        help="a client login and its HMAC key (repeatable; the key shows in ps: "
        "prefer --login-file or --login-env)",
    )
    p.add_argument(
        "--login-file",
        action="append",
        default=[],
        metavar="NAME:PATH",
        help="a client login whose HMAC key is the content of PATH (repeatable)",
    )
    p.add_argument(
        "--login-env",
        action="append",
        default=[],
        metavar="NAME:VARIABLE",
        help="a client login whose HMAC key is in the environment variable (repeatable)",
    )
    p.add_argument(
        "--publish-schedule",
        metavar="SPEC",
        help="monthly[:DAY] (default monthly:15), daily, every N(s|m|h|d), off",
    )
    _add_home(p)
    p.set_defaults(func=_cmd_serve)

    cli_qr.register(sub)
    return parser


class UsageError(ValueError):
    """The command was used wrongly (exit status 64)."""


def _raised_by_jura_trust(exc: BaseException) -> bool:
    """True if the innermost frame of ``exc`` is jura_trust's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and f"{os.sep}jura_trust{os.sep}" in frames[-1].filename


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Every outcome is printed once, here: a jura_trust error by its code
    (exit 3 for unreadable input, 4 for trust or service errors), a misuse
    (a :class:`ValueError` that jura_trust raised) with exit 64, and
    anything else, a bug, with exit 70 and one line, never a traceback and
    never exit 1. With ``--json`` standard output holds exactly one JSON
    object in every case.
    """
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        return int(args.func(args))
    except JuraError as exc:
        status = EXIT_FORMAT if exc.code.family == "FMT" else EXIT_ERROR
        if as_json:
            _print_json({"outcome": None, "error": exc.diagnostics(), **_error_fields(exc)})
        else:
            print(f"jura-trust: error [{exc.code.value}]: {exc.message}", file=sys.stderr)
        return status
    except ValueError as exc:
        if not (isinstance(exc, UsageError) or _raised_by_jura_trust(exc)):
            return _internal_error(exc, as_json=as_json)
        if as_json:
            _print_json({"outcome": None, "error": {"code": "USAGE", "message": str(exc)}})
        print(f"jura-trust: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        return _internal_error(exc, as_json=as_json)


def _internal_error(exc: BaseException, *, as_json: bool) -> int:
    where = traceback.extract_tb(exc.__traceback__)
    place = f" at {Path(where[-1].filename).name}:{where[-1].lineno}" if where else ""
    message = f"internal error ({type(exc).__name__}{place}): {exc}"
    if as_json:
        _print_json({"outcome": None, "error": {"code": "INTERNAL", "message": message}})
    print(f"jura-trust: {message}; please report it", file=sys.stderr)
    return EXIT_INTERNAL


def _error_fields(exc: JuraError) -> dict[str, Any]:
    return {
        "code": exc.code.value,
        "message": exc.message,
        "aggregation_time": None,
        "document_hash": None,
        "rules": [],
    }


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
