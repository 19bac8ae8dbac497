"""JSON-friendly values from decoded certificate content (private).

CBOR gives more types than JSON has: dates (tag 1004), datetimes (tag 0/1),
byte strings, integer map keys, tags, undefined, non-finite floats. The
CLI's ``--json`` must always print one JSON object, so certificate content
goes through :func:`json_safe` first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["json_safe"]

#: Deepest nesting converted (deeper content is shown as text).
_MAX_DEPTH = 64


def json_safe(value: Any, _depth: int = 0) -> Any:
    """``value`` with only JSON types: dict (str keys), list, str, int, float, bool, None.

    Datetimes become ISO 8601 UTC strings ending in ``Z`` (naive ones are
    taken as UTC), dates ``YYYY-MM-DD``, byte strings lowercase hex,
    non-finite floats and anything else their ``str``.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if _depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, str) else str(json_safe(k, _depth + 1))): json_safe(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, _depth + 1) for v in value]
    return str(value)
