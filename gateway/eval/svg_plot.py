"""The quality-vs-cost scatter plot of an eval run, as a standalone SVG file.

Cost runs along a log axis when the models' costs span more than 5x; each
model is a dot with its quality interval as a whisker; the Pareto front is
drawn as a dashed line through its models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from routing.ranking.leaderboard import LeaderboardRow

__all__ = ["scatter_svg"]

W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 440, 64, 24, 40, 52
ACCENT, GREY, INK, GRID = "#5b3cc4", "#98a2b3", "#1d2330", "#eef0f4"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = GREY,
          extra: str = "") -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>'
        f"{escape(text)}</text>"
    )


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        out = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            out += [m * 10.0**e for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
        return out
    return [lo + (hi - lo) * i / 4 for i in range(5)]


def _money(v: float) -> str:
    return f"{v:.2f}" if v >= 1 else f"{v:.2g}"


def _x_scale(costs: list[float]) -> tuple[Callable[[float], float], bool, float, float]:
    lo, hi = min(costs), max(costs)
    log = lo > 0 and hi / lo > 5
    scale: Callable[[float], float] = math.log10 if log else (lambda v: v)
    x0, x1 = scale(lo), scale(hi)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = (x1 - x0) * 0.08
    return scale, log, x0 - pad, x1 + pad


def scatter_svg(rows: Sequence[LeaderboardRow], title: str = "Quality vs cost") -> str:
    points = [r for r in rows if r.quality is not None and r.cost_per_mtok is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" font-family="system-ui, sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="#fff"/>',
        _text(LEFT, 24, title, fill=INK, extra=' font-size="15" font-weight="600"'),
    ]
    if not points:
        parts.append(_text(W / 2, H / 2, "no model has both a quality and a cost", anchor="middle"))
        return "\n".join([*parts, "</svg>"])
    scale, log, x0, x1 = _x_scale([p.cost_per_mtok or 0.0 for p in points])
    y0 = min(p.quality_low if p.quality_low is not None else p.quality or 0.0 for p in points)
    y0 = max(0.0, math.floor((y0 - 0.05) * 10) / 10)

    def sx(v: float) -> float:
        return LEFT + (scale(v) - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def sy(v: float) -> float:
        return TOP + (1 - (v - y0) / (1 - y0)) * (H - TOP - BOTTOM)

    for i in range(round((1 - y0) * 10) + 1):
        q = y0 + i / 10
        parts.append(_line(LEFT, sy(q), W - RIGHT, sy(q), GRID))
        parts.append(_text(LEFT - 8, sy(q) + 4, f"{q:.1f}", anchor="end"))
    edges = (10**x0, 10**x1) if log else (x0, x1)
    for v in _ticks(*edges, log):
        parts.append(_line(sx(v), TOP, sx(v), H - BOTTOM, GRID))
        parts.append(_text(sx(v), H - BOTTOM + 16, _money(v), anchor="middle"))
    parts.append(_line(LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM, GREY))
    parts.append(_line(LEFT, TOP, LEFT, H - BOTTOM, GREY))
    axis = "cost per 1M tokens, USD" + (" (log scale)" if log else "")
    parts.append(_text((LEFT + W - RIGHT) / 2, H - 12, axis, anchor="middle"))
    middle = (TOP + H - BOTTOM) / 2
    parts.append(_text(18, middle, "quality", anchor="middle",
                       extra=f' transform="rotate(-90 18 {middle:.1f})"'))  # fmt: skip
    front = sorted((p for p in points if p.pareto), key=lambda p: p.cost_per_mtok or 0.0)
    if len(front) > 1:
        path = " ".join(
            f"{'L' if i else 'M'}{sx(p.cost_per_mtok or 0.0):.1f},{sy(p.quality or 0.0):.1f}"
            for i, p in enumerate(front)
        )
        parts.append(
            f'<path class="pareto-front" d="{path}" fill="none" stroke="{ACCENT}" '
            'stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    for p in points:
        x, y = sx(p.cost_per_mtok or 0.0), sy(p.quality or 0.0)
        if p.quality_low is not None and p.quality_high is not None:
            whisker = ' stroke-width="1.5"'
            parts.append(_line(x, sy(p.quality_low), x, sy(p.quality_high), "#c0c6d2", whisker))
        kind = "model pareto" if p.pareto else "model"
        parts.append(
            f'<circle class="{kind}" cx="{x:.1f}" cy="{y:.1f}" r="6" '
            f'fill="{ACCENT if p.pareto else GREY}" stroke="#fff" stroke-width="1.5">'
            f"<title>{escape(p.model)}: quality {p.quality:.3f}</title></circle>"
        )
        right = x > W - RIGHT - 130
        parts.append(_text(x - 9 if right else x + 9, y - 8, p.model,
                           anchor="end" if right else "start", fill=INK))  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)
