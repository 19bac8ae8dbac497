"""The local service's configuration: a TOML file, command-line overrides (layer 10).

Every setting has a default except the logins: a service without a login
refuses to start (it would answer nobody). Relative paths in the file are
relative to the file's directory. Reference: docs/service.md.

.. code-block:: toml

    [server]
    listen = "127.0.0.1:8080"      # loopback by default
    home = "/var/lib/jura-trust"   # keys, publications file, calendar
    round_ms = 1000                # 1000..60000: one calendar leaf per second
    max_request_bytes = 1048576
    tcp_listen = "127.0.0.1:3332"  # optional: raw PDUs over TCP (ksi+tcp://)
    max_level = 32
    body_timeout_s = 10.0
    header_timeout_s = 10.0

    [calendar]                     # the calendar key (generated in home if absent)
    key = "calendar-key.pem"
    certificate = "calendar-cert.pem"

    [publisher]                    # the publications-file key (generated if absent)
    key = "publisher-key.pem"
    certificate = "publisher-cert.pem"
    email = "publications@example.org"
    schedule = "monthly"           # monthly[:DAY] | daily | every N(s|m|h|d) | off

    [store]
    engine = "sqlite"
    path = "calendar.sqlite"

    [limits]                       # defaults for every login
    rate = 20000                   # requests per second
    burst = 40000

    [[login]]
    name = "anon"
    key = "anon"                   # or key_file = "anon.key", or key_env = "VAR"
    rate = 100                     # optional, per login
"""

from __future__ import annotations

import calendar as _calendar
import datetime
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from jura_trust.backends.memory import MAX_REQUEST_LEVEL, PUBLISHER_EMAIL
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import MAX_PAYLOADS, MAX_STREAM_SIZE

__all__ = [
    "ANNOUNCED_MAX_LEVEL",
    "ANNOUNCED_MAX_REQUESTS",
    "DEFAULT_BURST",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_LISTEN",
    "DEFAULT_MAX_LEVEL",
    "DEFAULT_RATE",
    "DEFAULT_ROUND_MS",
    "MAX_LOGIN_LENGTH",
    "MAX_ROUND_MS",
    "MIN_ROUND_MS",
    "Login",
    "Schedule",
    "ServiceConfig",
    "load_config",
    "parse_listen",
    "parse_login",
    "parse_login_env",
    "parse_login_file",
    "read_key_env",
    "read_key_file",
]

#: Where the service listens unless told otherwise: loopback only.
DEFAULT_LISTEN: Final = ("127.0.0.1", 8080)
#: One round per second, as KSI aggregators run.
DEFAULT_ROUND_MS: Final = 1000
#: The shortest round accepted: the calendar holds one leaf per second, and
#: no round of a second can be answered before that second's leaf is final,
#: so a shorter round would not be a round (docs/architecture.md).
MIN_ROUND_MS: Final = 1000
#: The longest round accepted.
MAX_ROUND_MS: Final = 60_000
#: The highest request level accepted by default (a client's local tree of
#: up to 2**32 leaves).
DEFAULT_MAX_LEVEL: Final = 32
#: Requests per second a login may send by default.
DEFAULT_RATE: Final = 20_000.0
#: Requests a login may send at once by default (the token bucket's size).
DEFAULT_BURST: Final = 40_000
#: Longest login name (it becomes the metadata client id of signatures).
MAX_LOGIN_LENGTH: Final = 64
#: Seconds a client may take to send its request body.
DEFAULT_BODY_TIMEOUT: Final = 10.0
#: Seconds a connection may take to send a request's headers (HTTP) or to
#: start its next PDU (TCP); idle connections are closed after it too.
DEFAULT_HEADER_TIMEOUT: Final = 10.0
#: The highest request level announced in configuration responses. Guardtime's
#: gateways announce 17 (libksi's recorded ``aggr_conf_response-*.tlv``); a
#: client such as ``ksi sign --apply-remote-conf`` sizes its local tree (2**N
#: leaves) by it, so a large value makes it run out of memory. Requests up to
#: ``max_level`` are still accepted.
ANNOUNCED_MAX_LEVEL: Final = 17
#: The most requests announced per period (one PDU holds at most this many
#: payloads; Guardtime's gateways announce 512 or 1024).
ANNOUNCED_MAX_REQUESTS: Final = MAX_PAYLOADS
#: Round trees hold at most 2**_MAX_TREE_HEIGHT leaves (bodies and rate limits
#: keep real rounds far below); a request level must leave room for them.
_MAX_TREE_HEIGHT: Final = 32

_LOGIN_RE: Final = re.compile(r"^[A-Za-z0-9._@+-]+$")
_EVERY_RE: Final = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _config_error(message: str, **details: object) -> BackendError:
    return BackendError(f"service config: {message}", code=ErrorCode.SVC_CONFIG, **details)


@attrs.frozen(slots=True)
class Login:
    """A client login: its name, HMAC key and rate limit.

    Attributes:
        name: the login id clients put in the PDU header; it becomes the
            ``client_id`` in their signatures' metadata.
        key: the shared HMAC key.
        rate: requests per second allowed (a token bucket's refill rate).
        burst: requests allowed at once (the bucket's size).
    """

    name: str
    key: bytes = attrs.field(repr=False)
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST

    def __attrs_post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_LOGIN_LENGTH or not _LOGIN_RE.match(self.name):
            raise _config_error(
                f"login name {self.name!r} must be 1..{MAX_LOGIN_LENGTH} characters of "
                "letters, digits and ._@+-"
            )
        if not self.key:
            raise _config_error(f"login {self.name!r} has an empty key")
        rate_ok = isinstance(self.rate, int | float) and not isinstance(self.rate, bool)
        if not (rate_ok and self.rate > 0 and math.isfinite(self.rate)):
            raise _config_error(f"login {self.name!r}: rate must be a positive number")
        if not isinstance(self.burst, int) or isinstance(self.burst, bool) or self.burst < 1:
            raise _config_error(f"login {self.name!r}: burst must be a positive integer")

    def announced_max_requests(self, period_ms: int) -> int:
        """Requests this login may send per ``period_ms``, as configuration answers say.

        What the rate sustains over one period, at most the burst and
        :data:`ANNOUNCED_MAX_REQUESTS`, at least 1. Larger PDUs are still
        served while the token bucket allows them.
        """
        sustained = int(self.rate * period_ms / 1000)
        return max(1, min(self.burst, sustained, ANNOUNCED_MAX_REQUESTS))


def parse_login(text: str, *, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> Login:
    """A login from ``NAME:KEY`` (the key may itself contain colons)."""
    name, sep, key = text.partition(":")
    if not sep:
        raise _config_error("a login is not NAME:KEY")
    return Login(name, key.encode("utf-8"), rate, burst)


def _split_login(text: str, what: str) -> tuple[str, str]:
    name, sep, rest = text.partition(":")
    if not sep or not name or not rest:
        raise _config_error(f"a login is not {what}")
    return name, rest


def read_key_file(path: str | os.PathLike[str], name: str) -> bytes:
    """A login key from a file: its bytes without the trailing line break."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _config_error(f"login {name!r}: cannot read its key file: {exc.strerror}") from None
    return data.rstrip(b"\r\n")


def parse_login_file(text: str, *, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> Login:
    """A login from ``NAME:PATH``: the key is the file's content (one trailing newline dropped).

    Keeps the key out of the command line (``ps`` shows argv to every user).
    """
    name, path = _split_login(text, "NAME:PATH")
    return Login(name, read_key_file(path, name), rate, burst)


def read_key_env(variable: str, name: str) -> bytes:
    """A login key from the environment variable ``variable``."""
    value = os.environ.get(variable)
    if not value:
        raise _config_error(f"login {name!r}: the environment variable {variable} is not set")
    return value.encode("utf-8")


def parse_login_env(text: str, *, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> Login:
    """A login from ``NAME:VARIABLE``: the key is that environment variable's value."""
    name, variable = _split_login(text, "NAME:VARIABLE")
    return Login(name, read_key_env(variable, name), rate, burst)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a pair; port 0 picks a free one."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise _config_error(f"listen address {text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise _config_error(f"listen address {text!r} has a bad port") from None
    if not 0 <= port <= 65535:
        raise _config_error(f"listen port {port} out of range")
    return host, port


@attrs.frozen(slots=True)
class Schedule:
    """When the publisher publishes.

    ``monthly`` publishes on ``day`` of every month at 00:00:00 UTC (KSI
    publishes on the 15th); ``daily`` at 00:00:00 UTC; ``interval`` every
    ``interval`` seconds since the epoch; ``off`` never.
    """

    kind: str
    day: int = 15
    interval: int = 0

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``monthly``, ``monthly:DAY`` (1..28), ``daily``, ``every N(s|m|h|d)`` or ``off``."""
        spec = text.strip().lower()
        if spec == "off":
            return cls("off")
        if spec == "daily":
            return cls("interval", interval=86_400)
        if spec.startswith("monthly"):
            _, sep, day_text = spec.partition(":")
            day = 15
            if sep:
                if not day_text.isdigit() or not 1 <= int(day_text) <= 28:
                    raise _config_error(f"schedule {text!r}: the day must be 1..28")
                day = int(day_text)
            return cls("monthly", day=day)
        match = _EVERY_RE.match(spec)
        if match:
            seconds = int(match.group(1)) * _UNITS[match.group(2)]
            if seconds < 1:
                raise _config_error(f"schedule {text!r}: the period must be positive")
            return cls("interval", interval=seconds)
        raise _config_error(
            f"schedule {text!r} is not monthly[:DAY], daily, every N(s|m|h|d) or off"
        )

    def _monthly(self, year: int, month: int) -> int:
        return _calendar.timegm((year, month, self.day, 0, 0, 0))

    def next_after(self, t: int) -> int | None:
        """The first publication time strictly after ``t`` (``None`` when off)."""
        if self.kind == "off":
            return None
        if self.kind == "interval":
            return (t // self.interval + 1) * self.interval
        d = datetime.datetime.fromtimestamp(t, datetime.UTC)
        year, month = d.year, d.month
        while True:
            candidate = self._monthly(year, month)
            if candidate > t:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def last_at_or_before(self, t: int) -> int | None:
        """The latest publication time at or before ``t`` (``None`` when off)."""
        if self.kind == "off":
            return None
        if self.kind == "interval":
            return (t // self.interval) * self.interval
        d = datetime.datetime.fromtimestamp(t, datetime.UTC)
        year, month = d.year, d.month
        while True:
            candidate = self._monthly(year, month)
            if candidate <= t:
                return candidate
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)

    def __str__(self) -> str:
        if self.kind == "monthly":
            return f"monthly:{self.day}"
        if self.kind == "interval":
            return f"every {self.interval}s"
        return "off"


def _check_range(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _config_error(f"{name} must be a number in {lo:g}..{hi:g}", value=repr(value))


@attrs.frozen(slots=True)
class ServiceConfig:
    """Everything the local service needs to start.

    Attributes:
        home: the state directory (keys, publications file, calendar).
        listen: ``(host, port)``; loopback by default.
        round_ms: the round length in milliseconds, 1000..60000 (the
            calendar holds one leaf per second: one round per second at most).
        logins: the clients allowed in; at least one.
        calendar_key: PEM private key of the calendar signer, or ``None``
            to generate one in ``home``.
        calendar_certificate: its certificate (PEM); set with the key.
        publisher_key: PEM private key of the publications-file signer, or
            ``None`` to generate one in ``home``.
        publisher_certificate: its certificate (PEM); set with the key.
        publisher_email: the e-mail in the publisher certificate's subject
            (what verifiers constrain).
        schedule: when to publish.
        store_engine: the calendar store engine (``sqlite``).
        store_path: the store's file, by default ``home/calendar.sqlite``.
        max_request_bytes: the largest request body accepted (HTTP 413
            above).
        max_level: the highest aggregation request level accepted
            (configuration responses announce at most
            :data:`ANNOUNCED_MAX_LEVEL`).
        body_timeout: seconds a client may take to send its body (HTTP) or
            the rest of a PDU it started (TCP).
        tcp_listen: ``(host, port)`` for raw PDUs over TCP, or ``None``.
        header_timeout: seconds a connection may take to send its request
            headers (HTTP) or the first bytes of its next PDU (TCP); idle
            connections are closed after it.
    """

    home: Path
    listen: tuple[str, int] = DEFAULT_LISTEN
    round_ms: int = DEFAULT_ROUND_MS
    logins: tuple[Login, ...] = ()
    calendar_key: Path | None = None
    calendar_certificate: Path | None = None
    publisher_key: Path | None = None
    publisher_certificate: Path | None = None
    publisher_email: str = PUBLISHER_EMAIL
    schedule: Schedule = Schedule("monthly")
    store_engine: str = "sqlite"
    store_path: Path | None = None
    max_request_bytes: int = MAX_STREAM_SIZE
    max_level: int = DEFAULT_MAX_LEVEL
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    tcp_listen: tuple[str, int] | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __attrs_post_init__(self) -> None:
        _check_range("round_ms", self.round_ms, MIN_ROUND_MS, MAX_ROUND_MS)
        _check_range("max_request_bytes", self.max_request_bytes, 64, MAX_STREAM_SIZE)
        _check_range("max_level", self.max_level, 0, MAX_REQUEST_LEVEL - _MAX_TREE_HEIGHT)
        _check_range("body_timeout_s", self.body_timeout, 0.1, 3600)
        _check_range("header_timeout_s", self.header_timeout, 0.1, 3600)
        if self.store_engine != "sqlite":
            raise _config_error(
                f"store engine {self.store_engine!r} is not available (only 'sqlite' so far)"
            )
        for a, b, what in (
            (self.calendar_key, self.calendar_certificate, "calendar"),
            (self.publisher_key, self.publisher_certificate, "publisher"),
        ):
            if (a is None) != (b is None):
                raise _config_error(f"[{what}] needs both key and certificate, or neither")
        names = [login.name for login in self.logins]
        if len(set(names)) != len(names):
            raise _config_error("a login name is configured twice")

    def login(self, name: str) -> Login | None:
        """The login called ``name``, or ``None``."""
        for login in self.logins:
            if login.name == name:
                return login
        return None

    @property
    def announced_max_level(self) -> int:
        """The max level configuration responses announce (small; see ANNOUNCED_MAX_LEVEL)."""
        return min(self.max_level, ANNOUNCED_MAX_LEVEL)

    @property
    def aggregation_period_ms(self) -> int:
        """The round period in ms announced to clients: ``round_ms``."""
        return self.round_ms

    @property
    def calendar_store_path(self) -> Path:
        """Where the SQLite calendar lives."""
        return self.store_path if self.store_path is not None else self.home / "calendar.sqlite"

    def with_overrides(
        self,
        *,
        home: str | os.PathLike[str] | None = None,
        listen: str | None = None,
        round_ms: int | None = None,
        logins: Sequence[str] = (),
        login_files: Sequence[str] = (),
        login_envs: Sequence[str] = (),
        schedule: str | None = None,
        tcp_listen: str | None = None,
    ) -> ServiceConfig:
        """A copy with command-line settings applied.

        ``logins`` (``NAME:KEY``), ``login_files`` (``NAME:PATH``) and
        ``login_envs`` (``NAME:VARIABLE``) add logins or replace those of
        the file with the same name.
        """
        changes: dict[str, Any] = {}
        if tcp_listen is not None:
            changes["tcp_listen"] = parse_listen(tcp_listen)
        if home is not None:
            changes["home"] = Path(home)
        if listen is not None:
            changes["listen"] = parse_listen(listen)
        if round_ms is not None:
            changes["round_ms"] = round_ms
        if schedule is not None:
            changes["schedule"] = Schedule.parse(schedule)
        if logins or login_files or login_envs:
            added = [parse_login(text) for text in logins]
            added += [parse_login_file(text) for text in login_files]
            added += [parse_login_env(text) for text in login_envs]
            names = {login.name for login in added}
            changes["logins"] = (
                *(login for login in self.logins if login.name not in names),
                *added,
            )
        return attrs.evolve(self, **changes)

    def check_ready(self) -> None:
        """Refuse to start a service that nobody could use (no login)."""
        if not self.logins:
            raise _config_error(
                "no login configured: add [[login]], --login-file NAME:PATH, "
                "--login-env NAME:VARIABLE or --login NAME:KEY"
            )


def _path(base: Path, value: Any, name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise _config_error(f"{name} must be a non-empty path string")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _table(doc: Mapping[str, Any], name: str, keys: set[str]) -> dict[str, Any]:
    table = doc.get(name, {})
    if not isinstance(table, dict):
        raise _config_error(f"[{name}] must be a table")
    unknown = set(table) - keys
    if unknown:
        raise _config_error(f"[{name}] has unknown keys: {', '.join(sorted(unknown))}")
    return table


def load_config(path: str | os.PathLike[str] | None, *, home: Path) -> ServiceConfig:
    """Read a TOML configuration file (``None``: defaults with ``home``).

    ``home`` is the state directory used unless the file sets one. Unknown
    tables and keys are refused (SVC-08), so a typo never goes unnoticed.
    """
    if path is None:
        return ServiceConfig(home=home)
    file = Path(path)
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _config_error(f"cannot read {file}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _config_error(f"{file} is not valid TOML: {exc}") from None
    unknown = set(doc) - {"server", "calendar", "publisher", "store", "limits", "login"}
    if unknown:
        raise _config_error(f"unknown tables: {', '.join(sorted(unknown))}")
    base = file.resolve().parent
    server = _table(
        doc,
        "server",
        {
            "listen",
            "tcp_listen",
            "home",
            "round_ms",
            "max_request_bytes",
            "max_level",
            "body_timeout_s",
            "header_timeout_s",
        },
    )
    calendar = _table(doc, "calendar", {"key", "certificate"})
    publisher = _table(doc, "publisher", {"key", "certificate", "email", "schedule"})
    store = _table(doc, "store", {"engine", "path"})
    limits = _table(doc, "limits", {"rate", "burst"})
    rate = limits.get("rate", DEFAULT_RATE)
    burst = limits.get("burst", DEFAULT_BURST)
    logins: list[Login] = []
    raw_logins = doc.get("login", [])
    if not isinstance(raw_logins, list):
        raise _config_error("login must be an array of tables ([[login]])")
    for entry in raw_logins:
        allowed = {"name", "key", "key_file", "key_env", "rate", "burst"}
        if not isinstance(entry, dict) or set(entry) - allowed:
            raise _config_error(
                "each [[login]] takes name, one of key, key_file and key_env, "
                "and optionally rate and burst"
            )
        name = entry.get("name")
        sources = [k for k in ("key", "key_file", "key_env") if k in entry]
        if not isinstance(name, str) or len(sources) != 1:
            raise _config_error(
                "each [[login]] needs a name and exactly one of key, key_file and key_env"
            )
        value = entry[sources[0]]
        if not isinstance(value, str):
            raise _config_error(f"[[login]] {sources[0]} must be a string")
        if sources[0] == "key_file":
            secret = read_key_file(_path(base, value, "[[login]] key_file"), name)
        elif sources[0] == "key_env":
            secret = read_key_env(value, name)
        else:
            secret = value.encode("utf-8")
        logins.append(Login(name, secret, entry.get("rate", rate), entry.get("burst", burst)))
    kwargs: dict[str, Any] = {
        "home": _path(base, server["home"], "home") if "home" in server else home,
        "logins": tuple(logins),
    }
    if "listen" in server:
        kwargs["listen"] = parse_listen(str(server["listen"]))
    if "tcp_listen" in server:
        kwargs["tcp_listen"] = parse_listen(str(server["tcp_listen"]))
    for key, field in (
        ("round_ms", "round_ms"),
        ("max_request_bytes", "max_request_bytes"),
        ("max_level", "max_level"),
        ("body_timeout_s", "body_timeout"),
        ("header_timeout_s", "header_timeout"),
    ):
        if key in server:
            kwargs[field] = server[key]
    for table, prefix in ((calendar, "calendar"), (publisher, "publisher")):
        if "key" in table:
            kwargs[f"{prefix}_key"] = _path(base, table["key"], f"[{prefix}] key")
        if "certificate" in table:
            kwargs[f"{prefix}_certificate"] = _path(
                base, table["certificate"], f"[{prefix}] certificate"
            )
    if "email" in publisher:
        kwargs["publisher_email"] = str(publisher["email"])
    if "schedule" in publisher:
        kwargs["schedule"] = Schedule.parse(str(publisher["schedule"]))
    if "engine" in store:
        kwargs["store_engine"] = str(store["engine"])
    if "path" in store:
        kwargs["store_path"] = _path(base, store["path"], "[store] path")
    try:
        return ServiceConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _config_error(str(exc)) from None
