"""Reading ``/metrics`` in tests: parse the Prometheus text, compare two scrapes.

    before = scrape(server.url)
    ... send requests, noting what each should count ...
    expected.add("arbiter_requests_total", model="demo", provider="local", status="ok")
    expected.check(before, scrape(server.url))

``Expected.check`` asserts the exact delta of every series it was told about and
that no other series of the same metrics moved. A new kind of row (a cache hit,
a retry) is one more ``expected.add`` after the request that causes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


@dataclass
class Scrape:
    samples: dict[tuple[str, Labels], float]
    families: dict[str, str]  # family name -> type

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def series(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}

    def sample_names(self) -> set[str]:
        return {name for name, _ in self.samples}


def parse(text: str) -> Scrape:
    samples: dict[tuple[str, Labels], float] = {}
    families: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples, families)


def scrape(base_url: str) -> Scrape:
    response = httpx.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


@dataclass
class Expected:
    """Expected deltas between two scrapes, per series."""

    deltas: Counter[tuple[str, Labels]] = field(default_factory=Counter)

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        self.deltas[(name, frozenset(labels.items()))] += amount

    def observe(self, histogram: str, **labels: str) -> None:
        """One observation of a histogram: its _count and its +Inf bucket."""
        self.add(f"{histogram}_count", **labels)
        self.add(f"{histogram}_bucket", **labels, le="+Inf")

    def check(self, before: Scrape, after: Scrape) -> None:
        names = {name for name, _ in self.deltas}
        moved = {}
        for name in names:
            for labels in set(before.series(name)) | set(after.series(name)):
                if name.endswith("_bucket") and ("le", "+Inf") not in labels:
                    continue  # which finite bucket a latency falls in is up to the machine
                change = after.samples.get((name, labels), 0.0) - before.samples.get(
                    (name, labels), 0.0
                )
                if change:
                    moved[(name, labels)] = change
        got, wanted = _readable(moved), _readable({k: v for k, v in self.deltas.items() if v})
        if got != wanted:
            lines = [
                f"  {series}: expected {wanted.get(series, 0)}, moved by {got.get(series, 0)}"
                for series in sorted(set(got) | set(wanted))
                if got.get(series) != wanted.get(series)
            ]
            raise AssertionError("metrics moved otherwise than expected:\n" + "\n".join(lines))


def _readable(deltas: dict[tuple[str, Labels], float]) -> dict[str, float]:
    out = {}
    for (name, labels), value in deltas.items():
        inside = ",".join(f'{k}="{v}"' for k, v in sorted(labels))
        out[f"{name}{{{inside}}}"] = round(value, 12)
    return out
