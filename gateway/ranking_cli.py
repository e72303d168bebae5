"""``arbiter rank``: run an eval dataset through models, print and write a leaderboard.

    arbiter rank --dataset FILE --models A,B,... [--url URL --key KEY] [--out DIR]
                 [--concurrency N] [--publish] [--judge MODEL] [--pairwise] [--assert KIND]

Without ``--url`` the config's gateway runs in this process. Writes
``DIR/results.jsonl`` (one row per case and model), ``DIR/leaderboard.csv``,
``DIR/leaderboard.svg`` and ``DIR/cache.jsonl`` (re-runs only call models for
what is not in it). ``--publish`` stores each model's pass rate per task in
the gateway (``POST /v1/rankings/quality``) so that routing by rank uses it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from gateway.config import ConfigError, Settings, load_settings
from gateway.eval.dataset import ASSERTIONS, DatasetError, load_dataset

__all__ = ["add_rank_command", "cmd_rank"]


def add_rank_command(sub: Any) -> None:
    rank = sub.add_parser("rank", help="run an eval dataset through models and rank them")
    rank.add_argument("--config", default=argparse.SUPPRESS)
    rank.add_argument("--dataset", required=True, help="JSONL file, one case a line")
    rank.add_argument("--models", required=True, help="comma-separated model names")
    rank.add_argument("--url", help="a running Arbiter (default: this config, in-process)")
    rank.add_argument("--key", help="API key (default in-process: the config's master key)")
    rank.add_argument("--out", default="rank-out", help="output directory (default rank-out)")
    rank.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    rank.add_argument("--publish", action="store_true", help="store the scores for routing")
    rank.add_argument("--judge", help="judge model for 'judge' cases and --pairwise")
    rank.add_argument("--pairwise", action="store_true", help="judge every two answers per case")
    rank.add_argument("--rubric", help="rubric for --pairwise judging")
    rank.add_argument("--assert", dest="default_assert", choices=ASSERTIONS,
                      help="assertion for cases that name none (default contains)")  # fmt: skip
    rank.set_defaults(func=cmd_rank)


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"arbiter rank: {message}\n")
    return code


def _settings(args: argparse.Namespace) -> Settings:
    path = (
        getattr(args, "config", None) or os.environ.get("ARBITER_CONFIG") or "config.example.yaml"
    )
    return load_settings(path)


def cmd_rank(args: argparse.Namespace) -> int:
    models = list(dict.fromkeys(m.strip() for m in args.models.split(",") if m.strip()))
    if not models:
        return _fail("--models needs at least one model name")
    if args.pairwise and not args.judge:
        return _fail("--pairwise needs --judge MODEL")
    if args.concurrency < 1:
        return _fail("--concurrency must be at least 1")
    try:
        cases = load_dataset(args.dataset, default_assert=args.default_assert, judge=args.judge)
    except DatasetError as exc:
        return _fail(str(exc))
    settings = None
    if not args.url:
        try:
            settings = _settings(args)
        except ConfigError as exc:
            return _fail(f"invalid config:\n{exc}", 1)
        if args.publish and not settings.state.redis_url:
            return _fail(
                "--publish needs --url (a running gateway) or state.redis_url in the config: "
                "an in-process gateway without Redis keeps nothing after the run"
            )
    from gateway.eval.client import EvalError  # the run's modules load only when it runs
    from gateway.eval.command import run_rank

    try:
        return asyncio.run(run_rank(args, cases, models, settings))
    except EvalError as exc:
        return _fail(str(exc), 1)
