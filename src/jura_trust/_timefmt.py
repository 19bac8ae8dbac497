"""Parsing and formatting of times for the CLI and the high-level API."""

from __future__ import annotations

import datetime

from jura_trust.errors import ErrorCode, FormatError

__all__ = ["format_time", "parse_time"]


def parse_time(text: str) -> int:
    """Parse Unix seconds (``1700000000``) or ISO 8601 with ``Z`` or an offset.

    An ISO time without an offset is refused: a time that could mean two
    instants is not accepted silently. Raises :class:`FormatError` (FMT-17).

    >>> parse_time("2024-03-15T00:00:00Z")
    1710460800
    >>> parse_time("1710460800")
    1710460800
    """
    s = text.strip()
    if s.isdigit():
        return int(s)
    try:
        moment = datetime.datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError:
        raise FormatError(
            f"cannot read time {text!r}: use Unix seconds or ISO 8601 with Z or an offset",
            code=ErrorCode.FMT_BAD_TIME,
        ) from None
    if moment.tzinfo is None:
        raise FormatError(
            f"time {text!r} has no time zone: add Z or an offset such as +01:00",
            code=ErrorCode.FMT_BAD_TIME,
        )
    return int(moment.timestamp())


def format_time(t: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (``2024-03-15T00:00:00Z``).

    Times that no calendar can hold (before 1970 or after 9999, as a forged
    chain may claim) are written as ``"<t> s since 1970 (out of range)"``,
    never an exception.
    """
    if t is None:
        return None
    try:
        moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{t} s since 1970 (out of range)"
    if t < 0:
        return f"{t} s since 1970 (out of range)"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
