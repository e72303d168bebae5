"""Turns the medians of an interleaved run into bench/RESULTS.md."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Scenario", "median_of", "render"]

Rows = Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]]  # scenario -> target -> rounds


class Scenario:
    def __init__(self, id: str, body: str, connections: int, about: str, fixed: bool = False):
        self.id, self.body, self.connections, self.about, self.fixed = (
            id,
            body,
            connections,
            about,
            fixed,
        )


def median_of(rounds: Sequence[Mapping[str, float]], key: str) -> float | None:
    values = [r[key] for r in rounds if key in r]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}x" if a / b < 10 else f"{a / b:.0f}x"


def _scenario_table(
    scenario: Scenario, rows: Mapping[str, Sequence[Mapping[str, float]]], targets: Sequence[str]
) -> list[str]:
    direct = rows.get("direct")
    litellm = rows.get("litellm")
    d_rps = median_of(direct, "rps") if direct else None
    d_p50 = median_of(direct, "p50_ms") if direct else None
    l_rps = median_of(litellm, "rps") if litellm else None
    l_cpu = median_of(litellm, "cpu_us") if litellm else None
    l_added = (median_of(litellm, "p50_ms") - d_p50) if litellm and d_p50 is not None else None
    out = [
        f"### {scenario.about}",
        "",
        "| target | req/s | x direct | x LiteLLM | p50 ms | added p50 ms | added x LiteLLM "
        "| p99 ms | CPU us/req | CPU x LiteLLM | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in targets:
        if name not in rows:
            continue
        rounds = rows[name]
        rps, p50, p99, cpu = (median_of(rounds, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us"))
        added = p50 - d_p50 if p50 is not None and d_p50 is not None and name != "direct" else None
        errors = sum(int(r.get("errors", 0)) for r in rounds)
        out.append(
            f"| {name} | {_fmt(rps, 0)} | {_ratio(rps, d_rps)} | {_ratio(rps, l_rps)} "
            f"| {_fmt(p50)} | {_fmt(added)} | {_ratio(added, l_added)} | {_fmt(p99)} "
            f"| {_fmt(cpu, 0)} | {_ratio(cpu, l_cpu)} | {errors} |"
        )
    return [*out, ""]


def render(
    *,
    meta: Mapping[str, str],
    scenarios: Sequence[Scenario],
    results: Rows,
    targets: Sequence[str],
    about: Mapping[str, str],
    memory: Mapping[str, tuple[float, float]],
    streams: Mapping[str, Any],
    checks: Sequence[tuple[str, str, str, str]],
    costs: Sequence[tuple[str, str]],
) -> str:
    out = [
        "# Benchmark results",
        "",
        "Written by `bench/run`; numbers from one interleaved run.",
        "",
    ]
    out += [f"- {k}: {v}" for k, v in meta.items()]
    out += ["", "## Targets", "", "| name | what |", "|---|---|"]
    out += [f"| {t} | {about[t]} |" for t in targets]
    if checks:
        out += [
            "",
            "## Issue #9 targets (Arbiter)",
            "",
            "| target | wanted | measured | met |",
            "|---|---|---|---|",
        ]
        out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in checks]
    out += [
        "",
        "## Throughput and latency",
        "",
        "Medians over rounds. *added* = p50 minus direct's p50 at the same concurrency. "
        "*CPU us/req*: CPU time of the target's processes during the run divided by the "
        "requests served; it moves far less than req/s when other work shares the host.",
        "",
    ]
    for scenario in scenarios:
        if scenario.id in results:
            out += _scenario_table(scenario, results[scenario.id], targets)
    if streams:
        out += [
            "## Time to first byte, paced upstream",
            "",
            "One request at a time, fresh connection; the upstream sends its first event at "
            "once and the next ones every 20 ms.",
            "",
            "| target | TTFB p50 ms | over direct ms | whole stream p50 ms | events |",
            "|---|---:|---:|---:|---:|",
        ]
        base = streams.get("direct")
        for name in targets:
            if name in streams:
                s = streams[name]
                over = s.ttfb_p50_ms - base.ttfb_p50_ms if base and name != "direct" else None
                out.append(
                    f"| {name} | {_fmt(s.ttfb_p50_ms)} | {_fmt(over)} "
                    f"| {_fmt(s.total_p50_ms)} | {s.events} |"
                )
        out.append("")
    if memory:
        lite = memory.get("litellm")
        out += [
            "## Memory",
            "",
            "RSS of the process tree, sampled from /proc every 100 ms.",
            "",
            "| target | peak RSS MB | RSS at end MB | peak x LiteLLM |",
            "|---|---:|---:|---:|",
        ]
        for name in targets:
            if name in memory:
                peak, last = memory[name]
                out.append(
                    f"| {name} | {_fmt(peak, 1)} | {_fmt(last, 1)} "
                    f"| {_ratio(peak, lite[0] if lite else None)} |"
                )
        out.append("")
    if costs:
        out += [
            "## Cost per KB and per chunk (Arbiter)",
            "",
            "From the gateway process's CPU time per request at c=8 (small vs large body, "
            "JSON vs 20-chunk stream).",
            "",
            "| measure | value |",
            "|---|---:|",
        ]
        out += [f"| {a} | {b} |" for a, b in costs]
        out.append("")
    return "\n".join(out)
