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
    write_timeout_s = 30.0
    max_connections = 256
    max_reading_bytes = 16777216

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
    # or PostgreSQL (several processes on one database; docs/operations.md):
    # dsn = "postgresql://jura@db.example:5432/jura"
    # read_dsn = "postgresql://jura@replica.example:5432/jura"  # extending only
    # member = "node-a"            # this process's name in the writer lease

    [parent]                       # a child aggregator (no calendar of its own)
    urls = ["http://central.example:8080/aggregator"]
    login = "department-a"
    key_file = "parent.key"        # or key = "...", or key_env = "VAR"

    [limits]                       # defaults for every login, and totals
    rate = 2000                    # requests per second, per login
    burst = 4000
    in_flight = 8000               # answers in flight, per login
    total_rate = 8000              # requests per second, all logins together
    total_burst = 16000
    total_in_flight = 40000        # answers in flight, all logins together
    replay_window_s = 120.0        # repeated message ids refused within it
    replay_capacity = 50000        # message ids remembered per login
    require_message_ids = false

    [[login]]
    name = "anon"
    key = "anon"                   # or key_file = "anon.key", or key_env = "VAR"
    rate = 100                     # optional, per login

    [qr]                           # JT1 certificates on the residents' page
    trust_list = "trustlist.cose"  # the signed trust list
    trust_roots = ["root.pub.pem"] # the root keys it is checked against
    seals = "seals"                # seal registry: folder, file or http(s) URL
    revocations = "revoked.cose"   # optional signed revocation list

    [page]                         # the residents' page and its JSON API
    enabled = true
    client_rate = 1.0              # API requests per second per client address
    client_burst = 30
    total_rate = 50.0              # API requests per second, all anonymous clients
    total_burst = 200
    forwarded_for = false          # behind a reverse proxy: the last X-Forwarded-For
    max_image_bytes = 16777216     # photo uploads
"""

from __future__ import annotations

import calendar as _calendar
import datetime
import logging
import math
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from jura_trust.backends.home import check_config_file, check_secret_file
from jura_trust.backends.memory import MAX_REQUEST_LEVEL, PUBLISHER_EMAIL
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import MAX_PAYLOADS, MAX_STREAM_SIZE

__all__ = [
    "ANNOUNCED_MAX_LEVEL",
    "ANNOUNCED_MAX_REQUESTS",
    "DEFAULT_BURST",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_IN_FLIGHT",
    "DEFAULT_LISTEN",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_LEVEL",
    "DEFAULT_MAX_READING_BYTES",
    "DEFAULT_RATE",
    "DEFAULT_REPLAY_CAPACITY",
    "DEFAULT_REPLAY_WINDOW",
    "DEFAULT_ROUND_MS",
    "DEFAULT_TOTAL_BURST",
    "DEFAULT_TOTAL_IN_FLIGHT",
    "DEFAULT_TOTAL_RATE",
    "DEFAULT_WRITE_TIMEOUT",
    "MAX_LOGIN_LENGTH",
    "MAX_ROUND_MS",
    "MIN_ROUND_MS",
    "Login",
    "PageConfig",
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
#: Requests per second a login may send by default (a quarter of the total).
DEFAULT_RATE: Final = 2_000.0
#: Requests a login may send at once by default (the token bucket's size).
DEFAULT_BURST: Final = 4_000
#: Answers a login may have in flight by default (admitted, not yet written).
DEFAULT_IN_FLIGHT: Final = 8_000
#: Requests per second all logins together may send by default: what a
#: 2-core host serves with 1-second rounds (docs/performance.md).
DEFAULT_TOTAL_RATE: Final = 8_000.0
#: Requests all logins together may send at once by default.
DEFAULT_TOTAL_BURST: Final = 16_000
#: Answers in flight for all logins together by default.
DEFAULT_TOTAL_IN_FLIGHT: Final = 40_000
#: Seconds a repeated (login, instance id, message id) is refused.
DEFAULT_REPLAY_WINDOW: Final = 120.0
#: Message ids remembered per login within the replay window.
DEFAULT_REPLAY_CAPACITY: Final = 50_000
#: Seconds the service may take to write one answer to a client.
DEFAULT_WRITE_TIMEOUT: Final = 30.0
#: Open client connections (HTTP and TCP together) by default.
DEFAULT_MAX_CONNECTIONS: Final = 256
#: Bytes of request bodies held while they are read and admitted, all together.
DEFAULT_MAX_READING_BYTES: Final = 16 * 1024 * 1024
#: API requests per second one client address of the residents' page may send.
DEFAULT_CLIENT_RATE: Final = 1.0
#: API requests one client address may send at once.
DEFAULT_CLIENT_BURST: Final = 30
#: API requests per second for all the page's clients together.
DEFAULT_PAGE_TOTAL_RATE: Final = 50.0
#: The page's shared bucket's size.
DEFAULT_PAGE_TOTAL_BURST: Final = 200
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

#: [limits] keys that are service-wide settings, and their ServiceConfig fields.
_LIMITS: Final = {
    "total_rate": "total_rate",
    "total_burst": "total_burst",
    "total_in_flight": "total_in_flight",
    "replay_window_s": "replay_window",
    "replay_capacity": "replay_capacity",
    "require_message_ids": "require_message_ids",
}

_LOGIN_RE: Final = re.compile(r"^[A-Za-z0-9._@+-]+$")
_EVERY_RE: Final = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


_log = logging.getLogger("jura_trust.service")


def _warn_unsafe(problems: Sequence[str]) -> None:
    for problem in problems:
        _log.warning("UNSAFE (accepted with --allow-unsafe-home): %s", problem)


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
        in_flight: answers this login may have in flight: admitted into a
            round or the extender and not yet written to the client.
    """

    name: str
    key: bytes = attrs.field(repr=False)
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    in_flight: int = DEFAULT_IN_FLIGHT

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
        if (
            not isinstance(self.in_flight, int)
            or isinstance(self.in_flight, bool)
            or self.in_flight < MAX_PAYLOADS
        ):
            raise _config_error(
                f"login {self.name!r}: in_flight must be an integer of at least {MAX_PAYLOADS}"
            )

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


def read_key_file(path: str | os.PathLike[str], name: str, *, allow_unsafe: bool = False) -> bytes:
    """A login key from a file: its bytes without the trailing line break.

    The file must be readable by its owner only and nobody else may write
    it (``SVC-12``, :func:`~jura_trust.backends.home.check_secret_file`);
    with ``allow_unsafe`` the problems are logged as warnings instead.
    """
    if Path(path).exists():
        _warn_unsafe(
            check_secret_file(path, f"key file of login {name!r}", allow_unsafe=allow_unsafe)
        )
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _config_error(f"login {name!r}: cannot read its key file: {exc.strerror}") from None
    return data.rstrip(b"\r\n")


def parse_login_file(
    text: str,
    *,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    allow_unsafe: bool = False,
) -> Login:
    """A login from ``NAME:PATH``: the key is the file's content (one trailing newline dropped).

    Keeps the key out of the command line (``ps`` shows argv to every user).
    The file is checked as :func:`read_key_file` does.
    """
    name, path = _split_login(text, "NAME:PATH")
    return Login(name, read_key_file(path, name, allow_unsafe=allow_unsafe), rate, burst)


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


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _config_error(f"{name} must be an integer in {lo}..{hi}", value=repr(value))


def _check_range(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _config_error(f"{name} must be a number in {lo:g}..{hi:g}", value=repr(value))


@attrs.frozen(slots=True)
class PageConfig:
    """The residents' page (``GET /``) and its JSON API (``/api/v1/...``).

    Attributes:
        enabled: serve the page and the API.
        qr_trust_list: the signed JT1 trust list, or ``None`` (then the
            certificate check answers "cannot be verified", CRT-17).
        qr_trust_roots: the root public keys (PEM) the trust list and the
            revocation list are checked against.
        qr_seals: the seal registry of compact certificates (a folder, a
            file or an ``http(s)://`` URL).
        qr_revocations: a signed revocation list, or ``None``.
        client_rate: API requests per second one client address may send
            (a token bucket; IPv6 clients are counted per /64).
        client_burst: API requests one client address may send at once.
        total_rate: API requests per second for all clients together.
        total_burst: the shared bucket's size.
        forwarded_for: take the client address from the last
            ``X-Forwarded-For`` entry (only behind a reverse proxy that sets it).
        max_json_bytes: the largest JSON request body (HTTP 413 above).
        max_image_bytes: the largest photo upload (HTTP 413 above).
        max_image_pixels: the largest photo, in pixels (bigger ones are refused).
    """

    enabled: bool = True
    qr_trust_list: Path | None = None
    qr_trust_roots: tuple[Path, ...] = ()
    qr_seals: str | None = None
    qr_revocations: Path | None = None
    client_rate: float = DEFAULT_CLIENT_RATE
    client_burst: int = DEFAULT_CLIENT_BURST
    total_rate: float = DEFAULT_PAGE_TOTAL_RATE
    total_burst: int = DEFAULT_PAGE_TOTAL_BURST
    forwarded_for: bool = False
    max_json_bytes: int = 256 * 1024
    max_image_bytes: int = 16 * 1024 * 1024
    max_image_pixels: int = 40_000_000

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.enabled, bool) or not isinstance(self.forwarded_for, bool):
            raise _config_error("[page] enabled and forwarded_for must be true or false")
        _check_range("[page] client_rate", self.client_rate, 0.001, 1e6)
        _check_range("[page] client_burst", self.client_burst, 1, 1e7)
        _check_range("[page] total_rate", self.total_rate, 0.001, 1e7)
        _check_range("[page] total_burst", self.total_burst, 1, 1e8)
        _check_range("[page] max_json_bytes", self.max_json_bytes, 1024, 16 * 1024 * 1024)
        _check_range("[page] max_image_bytes", self.max_image_bytes, 1024, 64 * 1024 * 1024)
        _check_range("[page] max_image_pixels", self.max_image_pixels, 10_000, 200_000_000)
        if self.qr_trust_list is not None and not self.qr_trust_roots:
            raise _config_error("[qr] trust_list needs trust_roots (the root public keys)")
        if self.qr_trust_list is None and (self.qr_seals or self.qr_revocations):
            raise _config_error("[qr] seals and revocations need trust_list and trust_roots")


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
        store_engine: the calendar store engine (``sqlite`` or
            ``postgresql``).
        store_path: the store's file, by default ``home/calendar.sqlite``.
        store_dsn: the PostgreSQL database (``postgresql://...``): the
            calendar, the writer lease, hand-offs, keys and publications.
        read_dsn: a PostgreSQL read replica to extend from (without
            ``store_dsn``: this process only extends and serves the
            publications file).
        member: this process's name in the writer lease (default
            ``host:pid``).
        parents: parent aggregator URLs: a child aggregator, tried in order.
        parent_login: the login (name, key) at the parents.
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
        write_timeout: seconds the service may take to write one answer; a
            client that does not read it in time is disconnected.
        max_connections: open client connections, HTTP and TCP together;
            more are closed at once.
        max_reading_bytes: bytes of request bodies held at once while they
            are read and admitted (further reads wait).
        total_rate: requests per second of all logins together.
        total_burst: requests of all logins together at once.
        total_in_flight: answers in flight of all logins together.
        replay_window: seconds a PDU's (login, instance id, message id) is
            remembered; a repeat within it is refused.
        replay_capacity: message ids remembered per login; when they are
            all within the window, the login's further PDUs are refused.
        require_message_ids: refuse PDUs without instance and message ids
            (they cannot be told from their replays).
        allow_unsafe_home: start although the home or a file holding keys
            can be written (or keys read) by other users, with a warning.
        page: the residents' page and its API (:class:`PageConfig`).
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
    store_dsn: str | None = attrs.field(default=None, repr=False)
    read_dsn: str | None = attrs.field(default=None, repr=False)
    member: str | None = None
    parents: tuple[str, ...] = ()
    parent_login: Login | None = attrs.field(default=None, repr=False)
    max_request_bytes: int = MAX_STREAM_SIZE
    max_level: int = DEFAULT_MAX_LEVEL
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    tcp_listen: tuple[str, int] | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_reading_bytes: int = DEFAULT_MAX_READING_BYTES
    total_rate: float = DEFAULT_TOTAL_RATE
    total_burst: int = DEFAULT_TOTAL_BURST
    total_in_flight: int = DEFAULT_TOTAL_IN_FLIGHT
    replay_window: float = DEFAULT_REPLAY_WINDOW
    replay_capacity: int = DEFAULT_REPLAY_CAPACITY
    require_message_ids: bool = False
    allow_unsafe_home: bool = False
    page: PageConfig = PageConfig()

    def __attrs_post_init__(self) -> None:
        _check_range("round_ms", self.round_ms, MIN_ROUND_MS, MAX_ROUND_MS)
        _check_range("max_request_bytes", self.max_request_bytes, 64, MAX_STREAM_SIZE)
        _check_range("max_level", self.max_level, 0, MAX_REQUEST_LEVEL - _MAX_TREE_HEIGHT)
        _check_range("body_timeout_s", self.body_timeout, 0.1, 3600)
        _check_range("header_timeout_s", self.header_timeout, 0.1, 3600)
        _check_range("write_timeout_s", self.write_timeout, 0.1, 3600)
        _check_int("max_connections", self.max_connections, 1, 1_000_000)
        _check_int("max_reading_bytes", self.max_reading_bytes, MAX_STREAM_SIZE, 1 << 40)
        _check_range("total_rate", self.total_rate, 1, 1e9)
        _check_int("total_burst", self.total_burst, 1, 1 << 40)
        _check_int("total_in_flight", self.total_in_flight, MAX_PAYLOADS, 1 << 40)
        _check_range("replay_window_s", self.replay_window, 1, 86_400)
        _check_int("replay_capacity", self.replay_capacity, 1, 1 << 32)
        for flag in ("require_message_ids", "allow_unsafe_home"):
            if not isinstance(getattr(self, flag), bool):
                raise _config_error(f"{flag} must be true or false")
        if self.store_engine not in ("sqlite", "postgresql"):
            raise _config_error(
                f"store engine {self.store_engine!r} is not available ('sqlite' or 'postgresql')"
            )
        for dsn, what in ((self.store_dsn, "dsn"), (self.read_dsn, "read_dsn")):
            if dsn is not None and not dsn.startswith(("postgresql://", "postgres://")):
                raise _config_error(f"[store] {what} must be a postgresql:// URL")
        if self.store_engine == "postgresql" and self.store_dsn is None and self.read_dsn is None:
            raise _config_error("store engine 'postgresql' needs [store] dsn (or read_dsn)")
        if self.parents:
            if self.store_dsn is not None or self.read_dsn is not None:
                raise _config_error("a child aggregator (--parent) keeps no calendar store")
            if self.parent_login is None:
                raise _config_error(
                    "a child aggregator needs its login at the parents: [parent] login and key"
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
        allow_unsafe_home: bool | None = None,
        qr_trust_list: str | None = None,
        qr_trust_roots: Sequence[str] = (),
        qr_seals: str | None = None,
        qr_revocations: str | None = None,
        no_page: bool = False,
        store: str | None = None,
        read_store: str | None = None,
        parents: Sequence[str] = (),
        parent_login: str | None = None,
    ) -> ServiceConfig:
        """A copy with command-line settings applied.

        ``logins`` (``NAME:KEY``), ``login_files`` (``NAME:PATH``) and
        ``login_envs`` (``NAME:VARIABLE``) add logins or replace those of
        the file with the same name. The ``qr_*`` settings replace those
        of the file's ``[qr]`` table (``qr_trust_roots`` all of its roots);
        ``no_page`` turns the residents' page off. ``store`` is a
        ``postgresql://`` DSN or an SQLite file; ``read_store`` a replica's
        DSN; ``parents`` make a child aggregator, with ``parent_login``
        (``NAME:PATH`` of the key file, or the URL's ``user:key@``).
        """
        changes: dict[str, Any] = {}
        if allow_unsafe_home is not None:
            changes["allow_unsafe_home"] = allow_unsafe_home
        page: dict[str, Any] = {}
        if qr_trust_list is not None:
            page["qr_trust_list"] = Path(qr_trust_list)
        if qr_trust_roots:
            page["qr_trust_roots"] = tuple(Path(p) for p in qr_trust_roots)
        if qr_seals is not None:
            page["qr_seals"] = qr_seals
        if qr_revocations is not None:
            page["qr_revocations"] = Path(qr_revocations)
        if no_page:
            page["enabled"] = False
        if page:
            changes["page"] = attrs.evolve(self.page, **page)
        if store is not None:
            if store.startswith(("postgresql://", "postgres://")):
                changes.update(store_engine="postgresql", store_dsn=store)
            else:
                changes.update(store_engine="sqlite", store_path=Path(store), store_dsn=None)
        if read_store is not None:
            changes["read_dsn"] = read_store
            if store is None and self.store_dsn is None:
                changes["store_engine"] = "postgresql"
        if parents:
            urls, login = _parent_urls(parents)
            changes["parents"] = urls
            if login is not None:
                changes["parent_login"] = login
        if parent_login is not None:
            changes["parent_login"] = parse_login_file(parent_login)
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
            unsafe = changes.get("allow_unsafe_home", self.allow_unsafe_home)
            added += [parse_login_file(text, allow_unsafe=unsafe) for text in login_files]
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


def _parent_urls(urls: Sequence[str]) -> tuple[tuple[str, ...], Login | None]:
    """Parent URLs without credentials, and the login of the first URL that has one."""
    out: list[str] = []
    login: Login | None = None
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "ksi+http", "ksi+https", "ksi+tcp"):
            raise _config_error(f"parent {url!r} is not an http(s):// or ksi+tcp:// URL")
        if parts.username is not None:
            if login is None and parts.password:
                login = Login(
                    urllib.parse.unquote(parts.username),
                    urllib.parse.unquote(parts.password).encode("utf-8"),
                )
            netloc = parts.netloc.rsplit("@", 1)[1]
            out.append(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))
        else:
            out.append(url)
    return tuple(out), login


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


def load_config(
    path: str | os.PathLike[str] | None, *, home: Path, allow_unsafe: bool = False
) -> ServiceConfig:
    """Read a TOML configuration file (``None``: defaults with ``home``).

    ``home`` is the state directory used unless the file sets one. Unknown
    tables and keys are refused (SVC-08), so a typo never goes unnoticed.
    A file other users can write, or read when it holds a login key, and a
    login key file other users can read, are refused (SVC-12); with
    ``allow_unsafe`` they are logged as warnings and the configuration's
    ``allow_unsafe_home`` is set.
    """
    if path is None:
        return ServiceConfig(home=home, allow_unsafe_home=allow_unsafe)
    file = Path(path)
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _config_error(f"cannot read {file}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _config_error(f"{file} is not valid TOML: {exc}") from None
    entries = doc.get("login", [])
    holds_keys = isinstance(entries, list) and any(
        isinstance(e, dict) and "key" in e for e in entries
    )
    _warn_unsafe(check_config_file(file, holds_keys=holds_keys, allow_unsafe=allow_unsafe))
    unknown = set(doc) - {
        "server",
        "calendar",
        "publisher",
        "store",
        "limits",
        "login",
        "qr",
        "page",
        "parent",
    }
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
            "write_timeout_s",
            "max_connections",
            "max_reading_bytes",
        },
    )
    calendar = _table(doc, "calendar", {"key", "certificate"})
    publisher = _table(doc, "publisher", {"key", "certificate", "email", "schedule"})
    store = _table(doc, "store", {"engine", "path", "dsn", "read_dsn", "member"})
    parent = _table(doc, "parent", {"urls", "login", "key", "key_file", "key_env"})
    limits = _table(doc, "limits", set(_LIMITS) | {"rate", "burst", "in_flight"})
    rate = limits.get("rate", DEFAULT_RATE)
    burst = limits.get("burst", DEFAULT_BURST)
    in_flight = limits.get("in_flight", DEFAULT_IN_FLIGHT)
    logins: list[Login] = []
    raw_logins = doc.get("login", [])
    if not isinstance(raw_logins, list):
        raise _config_error("login must be an array of tables ([[login]])")
    for entry in raw_logins:
        allowed = {"name", "key", "key_file", "key_env", "rate", "burst", "in_flight"}
        if not isinstance(entry, dict) or set(entry) - allowed:
            raise _config_error(
                "each [[login]] takes name, one of key, key_file and key_env, "
                "and optionally rate, burst and in_flight"
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
            secret = read_key_file(
                _path(base, value, "[[login]] key_file"), name, allow_unsafe=allow_unsafe
            )
        elif sources[0] == "key_env":
            secret = read_key_env(value, name)
        else:
            secret = value.encode("utf-8")
        logins.append(
            Login(
                name,
                secret,
                entry.get("rate", rate),
                entry.get("burst", burst),
                entry.get("in_flight", in_flight),
            )
        )
    kwargs: dict[str, Any] = {
        "home": _path(base, server["home"], "home") if "home" in server else home,
        "logins": tuple(logins),
        "allow_unsafe_home": allow_unsafe,
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
        ("write_timeout_s", "write_timeout"),
        ("max_connections", "max_connections"),
        ("max_reading_bytes", "max_reading_bytes"),
    ):
        if key in server:
            kwargs[field] = server[key]
    for key, field in _LIMITS.items():
        if key in limits:
            kwargs[field] = limits[key]
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
    kwargs["page"] = _page_config(doc, base)
    for key in ("dsn", "read_dsn", "member"):
        if key in store:
            if not isinstance(store[key], str):
                raise _config_error(f"[store] {key} must be a string")
            kwargs["store_dsn" if key == "dsn" else key] = store[key]
    if ("dsn" in store or "read_dsn" in store) and "engine" not in store:
        kwargs["store_engine"] = "postgresql"
    if parent:
        urls = parent.get("urls", [])
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise _config_error("[parent] urls must be a non-empty list of URLs")
        kwargs["parents"], login = _parent_urls(urls)
        sources = [k for k in ("key", "key_file", "key_env") if k in parent]
        if "login" in parent:
            name = parent["login"]
            if not isinstance(name, str) or len(sources) != 1:
                raise _config_error(
                    "[parent] needs login and exactly one of key, key_file, key_env"
                )
            value = str(parent[sources[0]])
            if sources[0] == "key_file":
                secret = read_key_file(_path(base, value, "[parent] key_file"), name)
            elif sources[0] == "key_env":
                secret = read_key_env(value, name)
            else:
                secret = value.encode("utf-8")
            login = Login(name, secret)
        kwargs["parent_login"] = login
    try:
        return ServiceConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _config_error(str(exc)) from None


def _page_config(doc: Mapping[str, Any], base: Path) -> PageConfig:
    """The ``[qr]`` and ``[page]`` tables."""
    qr = _table(doc, "qr", {"trust_list", "trust_roots", "seals", "revocations"})
    page = _table(
        doc,
        "page",
        {
            "enabled",
            "client_rate",
            "client_burst",
            "total_rate",
            "total_burst",
            "forwarded_for",
            "max_json_bytes",
            "max_image_bytes",
            "max_image_pixels",
        },
    )
    kwargs: dict[str, Any] = dict(page)
    if "trust_list" in qr:
        kwargs["qr_trust_list"] = _path(base, qr["trust_list"], "[qr] trust_list")
    roots = qr.get("trust_roots", [])
    if isinstance(roots, str):
        roots = [roots]
    if not isinstance(roots, list):
        raise _config_error("[qr] trust_roots must be a path or a list of paths")
    kwargs["qr_trust_roots"] = tuple(_path(base, r, "[qr] trust_roots") for r in roots)
    if "seals" in qr:
        seals = qr["seals"]
        if not isinstance(seals, str) or not seals:
            raise _config_error("[qr] seals must be a folder, a file or an http(s) URL")
        kwargs["qr_seals"] = (
            seals if seals.startswith(("http://", "https://")) else str(_path(base, seals, "seals"))
        )
    if "revocations" in qr:
        kwargs["qr_revocations"] = _path(base, qr["revocations"], "[qr] revocations")
    try:
        return PageConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _config_error(str(exc)) from None
