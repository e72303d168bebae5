"""The ``arbiter`` command: serve, check, rank."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway.config import ConfigError, Settings, load_settings
from gateway.ranking_cli import add_rank_command

__all__ = ["main"]


def _config_path(args: argparse.Namespace) -> str:
    return args.config or os.environ.get("ARBITER_CONFIG") or "config.example.yaml"


def _load(args: argparse.Namespace) -> Settings:
    path = _config_path(args)
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"arbiter: invalid config {path}:\n{exc}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_check(args: argparse.Namespace) -> int:
    from gateway.runtime import plan_runtime

    settings = _load(args)
    plan = plan_runtime(settings)
    out = sys.stdout
    out.write(f"config {_config_path(args)}: valid\n\nproviders:\n")
    for name, provider in settings.providers.items():
        if name in plan.disabled:
            out.write(f"  {name} ({provider.type}): DISABLED - {plan.disabled[name]}\n")
        else:
            out.write(f"  {name} ({provider.type}): enabled\n")
    out.write("\nmodels:\n")
    for name, model in settings.models.items():
        if model.routed:
            out.write(
                f"  {name}: routed over {', '.join(model.candidates)} (prefer {model.prefer})\n"
            )
            continue
        live = "" if plan.servable(name) else "  [no live deployment]"
        out.write(f"  {name} (strategy {model.strategy}){live}\n")
        for dep in model.deployments:
            state = (
                f"disabled: provider {dep.provider} is disabled"
                if dep.provider in plan.disabled
                else "enabled"
            )
            out.write(f"    - {dep.provider}/{dep.model}: {state}\n")
        if model.fallbacks:
            out.write(f"    fallbacks: {', '.join(model.fallbacks)}\n")
    out.write(
        f"\nkeys: {len(settings.keys)} virtual key(s)"
        f"{' + master key' if settings.server.master_key else ''}\n"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.logging_setup import configure_logging
    from gateway.metrics_multiprocess import shared_metrics_dir

    settings = _load(args)
    log_config = configure_logging(settings)  # logging.level and .format, uvicorn's logs too
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    os.environ["ARBITER_CONFIG"] = os.path.abspath(_config_path(args))
    from gateway.server import fast_server_options

    common = dict(
        **fast_server_options(),
        host=host,
        port=port,
        log_level=settings.logging.level,
        timeout_graceful_shutdown=int(settings.server.shutdown_grace_s) or None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # Arbiter reads no client address; skip X-Forwarded-* per request
        log_config=log_config,
    )
    if args.workers > 1:
        # Workers sum their metrics through files in a directory of this serve's own.
        with shared_metrics_dir():
            uvicorn.run("gateway.main:app", workers=args.workers, **common)  # type: ignore[arg-type]
    else:
        from gateway.app import create_app
        from gateway.server import GatewayServer

        config = uvicorn.Config(create_app(settings, freeze_heap=True), **common)  # type: ignore[arg-type]
        GatewayServer(config).run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arbiter", description="Arbiter LLM gateway")
    parser.add_argument("--config", help="config file (default: $ARBITER_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default=argparse.SUPPRESS)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate the config and show what would run")
    check.add_argument("--config", default=argparse.SUPPRESS)
    check.set_defaults(func=cmd_check)

    add_rank_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
