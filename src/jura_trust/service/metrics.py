"""Service metrics in the Prometheus text format (layer 10).

Counters, gauges and fixed-bucket histograms, kept in memory by the event
loop thread (the round thread reports through it), rendered by
``GET /metrics``. Names start with ``jura_trust_``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["ANSWER_BUCKETS", "LATENCY_BUCKETS", "ROUND_SIZE_BUCKETS", "Histogram", "Metrics"]

#: Latency histogram bounds in seconds.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.1, 1.5, 2.5, 5.0)
#: Bounds of the answer histograms in seconds: fine steps around one round
#: (1 s) and in the first tenths of a second after a round ends, where the
#: latency target (one round + 100 ms) is decided.
ANSWER_BUCKETS: Final = (
    *(i / 100 for i in range(1, 31)),  # 10 ms steps up to 0.3 s
    0.35,
    0.4,
    0.45,
    0.5,
    0.6,
    0.75,
    0.9,
    0.95,
    *(1 + i / 100 for i in range(21)),  # 10 ms steps from 1.0 to 1.2 s
    1.3,
    1.5,
    2.0,
    2.5,
    5.0,
)
#: Round-size histogram bounds in requests.
ROUND_SIZE_BUCKETS: Final = (1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000)


class Histogram:
    """A cumulative histogram with fixed upper bounds, as Prometheus exposes it."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        """Record ``value`` (``n`` times)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += n
        self.count += n
        self.total += value * n

    def quantile(self, q: float) -> float | None:
        """An upper bound of the ``q`` quantile (the bucket bound it falls in)."""
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for bound, c in zip((*self.bounds, float("inf")), self.counts, strict=True):
            seen += c
            if seen >= rank:
                return bound
        return float("inf")  # pragma: no cover - rank <= count

    def lines(self, name: str, labels: str = "") -> list[str]:
        """The exposition lines of this histogram."""
        sep = "," if labels else ""
        out: list[str] = []
        seen = 0
        for bound, c in zip((*self.bounds, float("inf")), self.counts, strict=True):
            seen += c
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {seen}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {self.total:.6f}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


class Metrics:
    """The service's counters and histograms.

    ``requests`` counts HTTP requests by endpoint and outcome; ``payloads``
    counts request payloads by endpoint and KSI status. Gauges are read
    when rendering through ``gauges`` (name -> callable).
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}
        self.payloads: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.rounds = 0
        self.round_failures = 0
        self.signatures = 0
        self.publications = 0
        self.round_size = Histogram(ROUND_SIZE_BUCKETS)
        self.round_close = Histogram(LATENCY_BUCKETS)
        #: Aggregation answers: from the request's receipt, and from the end
        #: of its round (when the round stopped collecting), to the answer's
        #: last PDU handed to the transport.
        self.answer_written = Histogram(ANSWER_BUCKETS)
        #: Time to make a closed round's answers (sealed, with their HMACs)
        #: on the writer thread, before its waiters wake.
        self.answers_made = Histogram(LATENCY_BUCKETS)
        self.answer_after_round = Histogram(ANSWER_BUCKETS)
        self.last_round_size = 0
        self.gauges: dict[str, Callable[[], float | None]] = {}
        self.refusals: dict[str, int] = {}

    def refusal(self, reason: str) -> None:
        """Count one PDU or connection refused by a limit (``rate``, ``replay``, ...)."""
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        key = (endpoint, outcome)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(endpoint)
        if hist is None:
            hist = self.latency[endpoint] = Histogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def payload(self, endpoint: str, status: int, n: int = 1) -> None:
        """Count ``n`` request payloads answered with ``status``."""
        key = (endpoint, status)
        self.payloads[key] = self.payloads.get(key, 0) + n

    def answered(self, since_receipt: float, since_round_end: float) -> None:
        """Record one aggregation answer written (its delays; see ``answer_written``)."""
        self.answer_written.observe(since_receipt)
        self.answer_after_round.observe(since_round_end)

    def round_closed(self, size: int, seconds: float) -> None:
        """Record a closed round: its size and how long closing took."""
        self.rounds += 1
        self.signatures += size
        self.last_round_size = size
        self.round_size.observe(size)
        self.round_close.observe(seconds)

    def render(self) -> str:
        """The Prometheus text exposition of everything."""
        lines = [
            "# TYPE jura_trust_http_requests_total counter",
            *(
                f'jura_trust_http_requests_total{{endpoint="{e}",outcome="{o}"}} {n}'
                for (e, o), n in sorted(self.requests.items())
            ),
            "# TYPE jura_trust_payloads_total counter",
            *(
                f'jura_trust_payloads_total{{endpoint="{e}",status="0x{s:x}"}} {n}'
                for (e, s), n in sorted(self.payloads.items())
            ),
            "# TYPE jura_trust_refusals_total counter",
            *(
                f'jura_trust_refusals_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.refusals.items())
            ),
            "# TYPE jura_trust_http_request_duration_seconds histogram",
        ]
        for endpoint, hist in sorted(self.latency.items()):
            lines += hist.lines(
                "jura_trust_http_request_duration_seconds", f'endpoint="{endpoint}"'
            )
        lines += [
            "# TYPE jura_trust_rounds_total counter",
            f"jura_trust_rounds_total {self.rounds}",
            "# TYPE jura_trust_round_failures_total counter",
            f"jura_trust_round_failures_total {self.round_failures}",
            "# TYPE jura_trust_signatures_total counter",
            f"jura_trust_signatures_total {self.signatures}",
            "# TYPE jura_trust_publications_total counter",
            f"jura_trust_publications_total {self.publications}",
            "# TYPE jura_trust_round_size histogram",
            *self.round_size.lines("jura_trust_round_size"),
            "# TYPE jura_trust_round_close_seconds histogram",
            *self.round_close.lines("jura_trust_round_close_seconds"),
            "# TYPE jura_trust_round_answers_made_seconds histogram",
            *self.answers_made.lines("jura_trust_round_answers_made_seconds"),
            "# TYPE jura_trust_answer_written_seconds histogram",
            *self.answer_written.lines("jura_trust_answer_written_seconds"),
            "# TYPE jura_trust_answer_after_round_seconds histogram",
            *self.answer_after_round.lines("jura_trust_answer_after_round_seconds"),
            "# TYPE jura_trust_last_round_size gauge",
            f"jura_trust_last_round_size {self.last_round_size}",
        ]
        for name, read in sorted(self.gauges.items()):
            value = read()
            if value is not None:
                lines += [f"# TYPE jura_trust_{name} gauge", f"jura_trust_{name} {value:g}"]
        return "\n".join(lines) + "\n"
