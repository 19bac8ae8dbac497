"""What every ``jura-trust`` command shares (private to the CLI package).

* exit statuses and the order that makes one "worse" than another (a batch
  exits with the worst status of its files);
* error output: :func:`run` prints every error once, from its code, and
  turns an unexpected exception into exit 70 (never a traceback, never 1);
  with ``--json`` every error is the one object :func:`error_object`
  builds; a closed pipe (``| head``) ends the command quietly;
* file input (:func:`read_file`: a regular file's bytes, FMT-19 or FMT-20);
* time formats (:func:`iso`: ISO 8601 UTC ending in ``Z`` everywhere);
* the trust flags, the configuration file and :func:`trust_from_args`, the
  one place the command line assembles trust.

``HOME_ENV`` and :func:`default_home` come from
:mod:`jura_trust.backends.home` (the service shares them).

This module imports only what every command needs; backends, the HTTP
client, PKI and QR code are imported by the functions that use them, so a
command starts without loading what it does not run (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from jura_trust import _files
from jura_trust._timefmt import format_time, parse_time
from jura_trust.backends.home import HOME_ENV, default_home
from jura_trust.errors import ErrorCode, FormatError, JuraError

if TYPE_CHECKING:
    from jura_trust.backends.ksi_http import KsiHttpBackend
    from jura_trust.backends.memory import EmbeddedBackend
    from jura_trust.cli._config import ClientConfig
    from jura_trust.trust import TrustConfig

__all__ = [
    "EXIT_FAIL",
    "EXIT_INTERNAL",
    "HOME_ENV",
    "KEY_ENV",
    "Parser",
    "Resources",
    "UsageError",
    "default_home",
    "error_object",
    "iso",
    "print_json",
    "read_file",
    "run",
    "trust_from_args",
    "worst",
]

#: Environment variable holding the remote service key (instead of ``--key``).
KEY_ENV = "JURA_TRUST_KEY"

EXIT_OK = 0
#: ``verify``: proven bad; ``qr verify``: proven invalid.
EXIT_FAIL = 1
#: ``verify``: inconclusive (NA).
EXIT_NA = 2
#: Input that cannot be read (format errors).
EXIT_FORMAT = 3
#: A service, trust or configuration error (and NA for ``qr verify``).
EXIT_ERROR = 4
#: The command was used wrongly.
EXIT_USAGE = 64
#: An unexpected internal error (a bug, ``EX_SOFTWARE``): never 1, which
#: means "proven bad".
EXIT_INTERNAL = 70
#: A closed output pipe (as a shell reports a process ended by SIGPIPE).
EXIT_PIPE = 141

#: From best to worst: a batch exits with the worst status of its inputs.
#: A proven FAIL outranks "could not check" (3, 4) and NA (2).
SEVERITY = (EXIT_OK, EXIT_NA, EXIT_ERROR, EXIT_FORMAT, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL)

#: Codes that mean "the input could not be read" (exit 3) besides FMT-*.
UNREADABLE_CODES = frozenset(
    {
        ErrorCode.CRT_BAD_PREFIX,
        ErrorCode.CRT_BAD_ENCODING,
        ErrorCode.CRT_BAD_COMPRESSION,
        ErrorCode.CRT_BAD_STRUCTURE,
        ErrorCode.CRT_TOO_LARGE,
    }
)

#: The file name that means standard input.
STDIN = "-"
#: Files larger than this get a progress bar on a terminal.
PROGRESS_THRESHOLD = 32 * 1024 * 1024


def worst(statuses: Iterable[int]) -> int:
    """The worst of exit statuses (:data:`SEVERITY`); 0 for none."""
    rank = {s: i for i, s in enumerate(SEVERITY)}
    return max(statuses, key=lambda s: rank.get(s, len(SEVERITY)), default=EXIT_OK)


class UsageError(ValueError):
    """The command was used wrongly (exit status 64)."""


def _columns() -> int:
    """The terminal's width, found as :func:`shutil.get_terminal_size` finds it.

    Without importing :mod:`shutil` (and with it bz2, lzma and zlib), which
    :class:`argparse.HelpFormatter` would do for every option registered:
    a command's start-up (tests/test_cli_startup.py, bench/bench_cli_startup.py).
    """
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 64."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse's own, but with the width found without shutil (see _columns).
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]

    def error(self, message: str) -> NoReturn:
        """Print the usage and exit 64."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# -- output ----------------------------------------------------------------------------


def print_json(obj: Any, *, line: bool = False) -> None:
    """Print one JSON object: indented, or on one line (``line``, JSON Lines)."""
    import json  # noqa: PLC0415 - only a --json run pays for it (CLI start-up)

    from jura_trust.certificates._json import json_safe  # noqa: PLC0415 - small, pure

    safe = json_safe(obj)
    if line:
        text = json.dumps(safe, ensure_ascii=False)
    else:
        text = json.dumps(safe, ensure_ascii=False, indent=2)
    sys.stdout.write(text + "\n")


def iso(value: int | datetime | None) -> str | None:
    """A time as ISO 8601 UTC ending in ``Z`` (Unix seconds or an aware datetime)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return format_time(value)


def times(key: str, value: int | None) -> dict[str, Any]:
    """``{key: ISO, key_unix: seconds}``: a time in both of the CLI's JSON forms."""
    return {key: iso(value), f"{key}_unix": value}


def error_status(exc: JuraError) -> int:
    """3 for input that cannot be read, 4 for anything else jura_trust reports."""
    if exc.code.family == "FMT" or exc.code in UNREADABLE_CODES:
        return EXIT_FORMAT
    return EXIT_ERROR


def error_object(
    code: str, message: str, *, diagnostics: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON object of every error, in every command (``schemas/error.json``).

    ``outcome`` is ``null`` (no verdict was reached) and ``valid`` ``false``
    (nothing is proven); ``code`` is an error code, ``USAGE`` or ``INTERNAL``.
    """
    return {
        **extra,
        "outcome": None,
        "valid": False,
        "code": code,
        "message": message,
        "error": diagnostics or {"code": code, "message": message},
    }


def jura_error_object(exc: JuraError, **extra: Any) -> dict[str, Any]:
    """:func:`error_object` for a jura_trust error."""
    return error_object(exc.code.value, exc.message, diagnostics=exc.diagnostics(), **extra)


def internal_message(exc: BaseException) -> str:
    """One line naming an unexpected exception and where it was raised."""
    import traceback  # noqa: PLC0415 - only on errors

    where = traceback.extract_tb(exc.__traceback__)
    place = f" at {Path(where[-1].filename).name}:{where[-1].lineno}" if where else ""
    return f"internal error ({type(exc).__name__}{place}): {exc}"


def _raised_by_jura_trust(exc: BaseException) -> bool:
    """True if the innermost frame of ``exc`` is jura_trust's own code."""
    import traceback  # noqa: PLC0415 - only on errors

    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and f"{os.sep}jura_trust{os.sep}" in frames[-1].filename


def _quiet_closed_pipe() -> int:
    """After EPIPE on standard output: no more output, no traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # in-process callers' captured stdout
        pass
    return EXIT_PIPE


def run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; print every error once; return the exit status.

    A jura_trust error by its code (exit 3 for unreadable input, 4 for trust
    or service errors), a misuse (a :class:`ValueError` that jura_trust
    raised) with exit 64, and anything else, a bug, with exit 70 and one
    line, never a traceback and never exit 1. With ``--json`` standard
    output holds one JSON object per result in every case. A closed pipe
    ends the command with status 141 and no message.
    """
    as_json = bool(getattr(args, "json", False))
    try:
        try:
            status = int(command(args))
        except JuraError as exc:
            if as_json:
                print_json(jura_error_object(exc))
            else:
                print(f"jura-trust: error [{exc.code.value}]: {exc.message}", file=sys.stderr)
            status = error_status(exc)
        except ValueError as exc:
            if not (isinstance(exc, UsageError) or _raised_by_jura_trust(exc)):
                status = _internal_error(exc, as_json=as_json)
            else:
                if as_json:
                    print_json(error_object("USAGE", str(exc)))
                print(f"jura-trust: error: {exc}", file=sys.stderr)
                status = EXIT_USAGE
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:
            status = _internal_error(exc, as_json=as_json)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_closed_pipe()
    return status


def _internal_error(exc: BaseException, *, as_json: bool) -> int:
    message = internal_message(exc)
    if as_json:
        print_json(error_object("INTERNAL", message))
    print(f"jura-trust: {message}; please report it", file=sys.stderr)
    return EXIT_INTERNAL


# -- input -------------------------------------------------------------------------------


def read_file(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """A regular file's bytes; FMT-19 unreadable, FMT-20 not a regular file (exit 3)."""
    return _files.read_regular(path, limit=limit)


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory.

    A text that no file system path can be (a long certificate text:
    ENAMETOOLONG) is not one.
    """
    try:
        return path.is_dir()
    except OSError:
        return False


def expand_inputs(items: Sequence[str], suffixes: Sequence[str]) -> list[str]:
    """Files given, with each directory replaced by its files ending in ``suffixes``.

    Directories are walked recursively, in name order; a directory holding
    no such file is an error (FMT-19) rather than a silent success.
    """
    out: list[str] = []
    for item in items:
        path = Path(item)
        if item != STDIN and _is_dir(path):
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix.lower() in suffixes and (p.is_file() or p.is_symlink())
            )
            if not found:
                raise FormatError(
                    f"{item} holds no {' or '.join(suffixes)} file", code=ErrorCode.FMT_IO
                )
            out.extend(found)
        else:
            out.append(item)
    return out


# -- the embedded home and the remote service -------------------------------------------


def home_given(args: argparse.Namespace) -> bool:
    """True if ``--home`` or ``$JURA_TRUST_HOME`` chose the embedded backend.

    Then ``sign`` and ``extend`` use it rather than a service from the
    configuration file.
    """
    return bool(getattr(args, "home", None) or os.environ.get(HOME_ENV))


def open_embedded(home: str | os.PathLike[str] | None, *, create: bool = True) -> EmbeddedBackend:
    """The embedded backend of ``home`` (default :func:`default_home`).

    The class is looked up as ``jura_trust.cli.EmbeddedBackend`` so tests can
    replace it (with a manual clock) in one place.
    """
    from jura_trust import cli  # noqa: PLC0415 - the package resolves the class lazily

    factory: Any = cli.EmbeddedBackend
    backend: EmbeddedBackend = factory(Path(home) if home else default_home(), create=create)
    return backend


def client_key(args: argparse.Namespace, config: ClientConfig | None = None) -> str | bytes | None:
    """The remote login's key: ``--key-file``, ``--key``, ``$JURA_TRUST_KEY`` or the config."""
    key_file = getattr(args, "key_file", None)
    key = getattr(args, "key", None)
    if key_file is not None:
        if key is not None:
            raise UsageError("give --key or --key-file, not both")
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise FormatError(
                f"cannot read the key file {key_file}: {exc.strerror}", code=ErrorCode.FMT_IO
            ) from None
        return data.rstrip(b"\r\n") or None
    if key is not None:
        return str(key)
    env = os.environ.get(KEY_ENV)
    if env:
        return env
    return config.key() if config is not None else None


def http_backend(args: argparse.Namespace, *, need_login: bool = True) -> KsiHttpBackend:
    """The ``ksi_http`` backend the client flags (and the configuration file) describe."""
    from jura_trust.backends.ksi_http import KsiHttpBackend  # noqa: PLC0415 - lazy: start-up

    config = client_config(args)
    key = client_key(args, config)
    login = getattr(args, "login", None) or config.login
    if need_login and (not login or not key):
        raise UsageError(
            f"a remote KSI service needs --login and --key-file (or ${KEY_ENV}, or --key), "
            "or a login in the configuration file (jura-trust trust pin URL --login NAME)"
        )
    login_given = bool(login and key)
    anchors = load_trust_anchors(getattr(args, "trust_anchor", []) or [])
    constraints = parse_constraints(getattr(args, "cert_constraint", []) or [])
    if not anchors and config.certificate is not None:
        anchors = config.trust_anchors()
        constraints = constraints or config.constraints
    return KsiHttpBackend(
        getattr(args, "aggregator", None) or config.aggregator,
        getattr(args, "extender", None) or config.extender,
        getattr(args, "publications_url", None) or config.publications_url,
        login=login if login_given else None,
        key=key if login_given else None,
        timeout=getattr(args, "timeout", 10.0),
        trust_anchors=anchors,
        cert_constraints=constraints,
    )


def client_config(args: argparse.Namespace) -> ClientConfig:
    """The configuration file's settings (empty with ``--no-config`` or no file)."""
    from jura_trust.cli import _config  # noqa: PLC0415 - tomllib only when needed

    if getattr(args, "no_config", False):
        return _config.ClientConfig()
    cached = getattr(args, "_client_config", None)
    if cached is None:
        cached = _config.load(getattr(args, "config_file", None))
        args._client_config = cached
    result: ClientConfig = cached
    return result


def load_trust_anchors(paths: Sequence[str]) -> list[Any]:
    """The certificates in PEM (or DER) files."""
    if not paths:
        return []
    from jura_trust import pki  # noqa: PLC0415 - lazy: start-up

    anchors: list[Any] = []
    for p in paths:
        anchors.extend(pki.load_certificates(read_file(p)))
    return anchors


def parse_constraints(items: Sequence[str]) -> dict[str, str]:
    """``OID=VALUE`` items as a mapping (FMT-13 for a malformed one)."""
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


# -- the trust flags --------------------------------------------------------------------


def add_home(p: argparse.ArgumentParser) -> None:
    """``--home``."""
    p.add_argument(
        "--home",
        help=f"state directory of the embedded backend (default: ${HOME_ENV} or "
        "~/.local/share/jura-trust)",
    )


def add_config(p: argparse.ArgumentParser) -> None:
    """``--config-file`` and ``--no-config`` (the file ``jura-trust trust pin`` writes)."""
    p.add_argument(
        "--config-file",
        metavar="FILE",
        help="client configuration (default: $JURA_TRUST_CONFIG or "
        "~/.config/jura-trust/config.toml; written by 'jura-trust trust pin')",
    )
    p.add_argument("--no-config", action="store_true", help="ignore the client configuration file")


def add_remote(p: argparse.ArgumentParser, *endpoints: str) -> None:
    """The flags that reach a remote KSI service (``aggregator``, ``extender``)."""
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
    add_config(p)


class Resources:
    """Backends opened while assembling trust; closed after the command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._embedded: EmbeddedBackend | None = None
        self._remote: list[KsiHttpBackend] = []

    def embedded(self) -> EmbeddedBackend:
        """The embedded home (never created by a read-only command)."""
        if self._embedded is None:
            self._embedded = open_embedded(getattr(self.args, "home", None), create=False)
        return self._embedded

    def remote(self, *, need_login: bool = True) -> KsiHttpBackend:
        """A client of the remote service the flags name."""
        client = http_backend(self.args, need_login=need_login)
        self._remote.append(client)
        return client

    def __enter__(self) -> Resources:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._embedded is not None:
            self._embedded.close()
        for r in self._remote:
            r.close()


def trust_from_args(args: argparse.Namespace, res: Resources) -> TrustConfig:
    """The one place the command line assembles trust (``verify``, ``extend``).

    An explicit publications file (``--publications-file`` or
    ``--publications-url``) is checked against ``--trust-anchor`` and
    ``--cert-constraint``. Without flags, the configuration file
    (``jura-trust trust pin``) gives the publications file, its certificate
    and the extender. With no anchor, the embedded home's publisher
    certificate and e-mail are the trust configuration. Without a file, the
    home's own publications file is trusted when the home exists; an empty
    home trusts nothing (the policies then say NA). Read-only commands never
    create a home.
    """
    from jura_trust.trust import TrustConfig  # noqa: PLC0415 - lazy: start-up
    from jura_trust.verify.policies import Policy  # noqa: PLC0415

    policy = getattr(args, "policy", Policy.GENERAL.value)
    at = parse_time(args.at) if getattr(args, "at", None) else None
    anchored = policy not in (Policy.INTERNAL.value, Policy.USER_PUBLICATION.value)
    config = client_config(args) if anchored else None
    data: bytes | None = None
    pub_file = getattr(args, "publications_file", None)
    pub_url = getattr(args, "publications_url", None)
    anchors = load_trust_anchors(getattr(args, "trust_anchor", []))
    constraints = parse_constraints(getattr(args, "cert_constraint", []))
    sources: list[str] = []
    if pub_file and pub_url:
        raise UsageError("give --publications-file or --publications-url, not both")
    if pub_file:
        data = read_file(pub_file)
    elif pub_url:
        data = res.remote(need_login=False).publications_file_bytes()
    elif config is not None and config.publications_file is not None:
        data = config.publications_bytes()
        sources.append(f"the pinned publications file of {config.url} ({config.path})")
        if not anchors:
            anchors = config.trust_anchors()
            constraints = constraints or config.constraints
    if data is not None and not anchors:
        home = res.embedded()
        anchors = [home.publisher_certificate]
        constraints = constraints or {"E": home.publisher_email}
    extender: Any = None
    name = "the extender"
    response = getattr(args, "extender_response", None)
    extending = bool(getattr(args, "extending_allowed", False))
    request_file = getattr(args, "extender_request", None)
    if request_file and not response:
        raise UsageError("--extender-request needs --extender-response")
    if response:
        from jura_trust.pdu import recorded_extender  # noqa: PLC0415

        request = read_file(request_file) if request_file else None
        extender = recorded_extender(read_file(response), request=request)
        name = f"the recorded extender response {response}"
        extending = True
    elif getattr(args, "extender", None):
        extender = res.remote().extend_calendar
        name = args.extender
        extending = True
    elif (extending or policy == "calendar") and config is not None and config.extender:
        extender = res.remote().extend_calendar
        name = f"{config.extender} (from {config.path})"
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
    if sources:
        trust = trust.evolve(sources=(*trust.sources, *sources))
    if data is None and anchored and not getattr(args, "no_embedded", False):
        from jura_trust.errors import BackendError  # noqa: PLC0415

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


def now() -> datetime:
    """The current time (aware, UTC)."""
    return datetime.now(UTC)
