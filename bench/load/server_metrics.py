"""The server's own figures for a load run, read from its ``/metrics`` (yixiang/metrics.py):
per route template the requests it answered and its time to answer (mean, and p99 to the
histogram's bucket), the requests admission refused, and the peaks of what it had in flight,
queued and connections in use, sampled once a second. Read before and after the run, so
warm-up and preparation do not count.

One scrape reaches one process: with several API processes the figures are one process's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

LATENCY = "yixiang_http_request_duration_seconds"
GAUGES = (
    "yixiang_http_in_flight",
    "yixiang_http_queued",
    "yixiang_db_pool_in_use",
    "yixiang_outbox_lag_seconds",
)


@dataclass
class Scrape:
    counts: dict[str, float] = field(default_factory=dict)  # route -> requests
    sums: dict[str, float] = field(default_factory=dict)  # route -> seconds
    buckets: dict[str, dict[float, float]] = field(default_factory=lambda: defaultdict(dict))  # le -> n
    shed: float = 0.0
    shed_reasons: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    gauges: dict[str, float] = field(default_factory=dict)


def parse(text: str) -> Scrape:
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if sample.name == f"{LATENCY}_count":
                scrape.counts[route] = sample.value
            elif sample.name == f"{LATENCY}_sum":
                scrape.sums[route] = sample.value
            elif sample.name == f"{LATENCY}_bucket":
                scrape.buckets[route][float(sample.labels["le"])] = sample.value
            elif sample.name == "yixiang_http_shed_total":
                scrape.shed += sample.value
                scrape.shed_reasons[sample.labels.get("reason", "")] += sample.value
            elif sample.name in GAUGES:  # summed over labels (the admission gates)
                scrape.gauges[sample.name] = scrape.gauges.get(sample.name, 0.0) + sample.value
    return scrape


async def scrape(client: httpx.AsyncClient, token: str | None) -> Scrape | None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = await client.get("/metrics", headers=headers, timeout=5)
    except httpx.TransportError:
        return None
    return parse(response.text) if response.status_code == 200 else None


@dataclass
class ServerFigures:
    before: Scrape
    after: Scrape
    peaks: dict[str, float]

    def markdown(self, seconds: float) -> str:
        lines = [
            "Server side (its /metrics): "
            + ", ".join(
                f"peak {name.removeprefix('yixiang_')} {value:.3g}" for name, value in self.peaks.items()
            )
            + f"; refused by admission {self.after.shed - self.before.shed:g}"
            + self._reasons(),
            "",
            "| route template | answered | per s | mean ms | p99 ms (bucket) |",
            "|---|---:|---:|---:|---:|",
        ]
        for route in sorted(self.after.counts, key=lambda r: -self.after.counts[r]):
            n = self.after.counts[route] - self.before.counts.get(route, 0.0)
            if n <= 0:
                continue
            total = self.after.sums[route] - self.before.sums.get(route, 0.0)
            lines.append(
                f"| `{route}` | {n:g} | {n / seconds:.1f} | {total / n * 1000:.1f} | {self._p99(route, n)} |"
            )
        return "\n".join(lines)

    def _reasons(self) -> str:
        counts = {
            reason: n - self.before.shed_reasons.get(reason, 0.0)
            for reason, n in self.after.shed_reasons.items()
            if n > self.before.shed_reasons.get(reason, 0.0)
        }
        return " (" + ", ".join(f"{r} {n:g}" for r, n in sorted(counts.items())) + ")" if counts else ""

    def _p99(self, route: str, n: float) -> str:
        before = self.before.buckets.get(route, {})
        for le, cumulative in sorted(self.after.buckets[route].items()):
            if cumulative - before.get(le, 0.0) >= 0.99 * n:
                return "> 10,000" if math.isinf(le) else f"≤ {le * 1000:g}"
        return "n/a"


def peaks_of(samples: list[Scrape]) -> dict[str, float]:
    return {name: max((s.gauges.get(name, 0.0) for s in samples), default=0.0) for name in GAUGES}
