"""The `crosswalk` command: `check FILE`, `demo`, `serve`, `report`, `explain`, `unexclude`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Sequence

from crosswalk.policies.config import RouterConfig
from crosswalk.router.errors import ConfigError


def _check(path: str | None) -> int:
    from crosswalk.policies.compliance import verdict
    from crosswalk.router.configfile import load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"error: {exc.source}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(routing_table(config, dt.date.today(), verdict))
    empty = [s.name for s in config.steps.values() if not any(verdict(config, s, config.providers[p], dt.date.today()).eligible for p in s.providers)]
    for name in empty:
        print(f"error: steps.{name}: no provider is eligible today; relax its allowed_regions or embargo entries", file=sys.stderr)
    return 1 if empty else 0


def _explain(args: argparse.Namespace) -> int:
    import os

    from crosswalk.router import explain as explain_mod
    from crosswalk.router.configfile import load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.step not in config.steps:
        print(f"error: unknown step '{args.step}' (known steps: {', '.join(sorted(config.steps))})", file=sys.stderr)
        return 1
    live = None
    if args.url:
        try:
            live = explain_mod.live_state(args.url, args.key or os.environ.get("CROSSWALK_API_KEY"))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read provider state from {args.url}: {exc}", file=sys.stderr)
            return 1
    lines, usable = explain_mod.explain(config, args.step, region=args.region, today=dt.date.today(), live=live)
    print("\n".join(lines))
    return 0 if usable else 1


def _unexclude(args: argparse.Namespace) -> int:
    import os

    from crosswalk.router import unexclude as unexclude_mod

    try:
        answer = unexclude_mod.lift(args.url, args.key or os.environ.get("CROSSWALK_API_KEY"), args.provider)
    except unexclude_mod.UnexcludeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(unexclude_mod.describe(answer))
    return 0


def routing_table(config: RouterConfig, today: dt.date, verdict: object) -> str:
    """The resolved routing table per step, with why each provider is eligible or not."""
    lines = [f"{config.source}: OK ({len(config.providers)} providers, {len(config.steps)} steps; compliance as of {today})"]
    for step in config.steps.values():
        t = step.timeouts
        regions = ", ".join(sorted(step.allowed_regions)) if step.allowed_regions is not None else "any"
        lines.append(
            f"\nstep {step.name}: up to {step.max_attempts} attempts; timeouts per-try {t.per_try_s:g}s, "
            f"first token {t.ttft_s:g}s, idle {t.idle_s:g}s, total {t.total_s:g}s; regions {regions}"
        )
        if step.verify is not None:
            v = step.verify
            lines.append(
                f"  verify: {v.agree.min} of {v.agree.of} must agree ({v.compare}); panel differs in "
                f"{' and '.join(v.diverse)}; on disagreement: {v.on_disagree}; sample {v.sample:g}"
                + ("; lazy (the fewest that can agree first)" if v.lazy else "")
            )
        if step.validate is not None:
            lines.append(f"  validate: {', '.join(step.validate.names)}; on invalid: {step.on_invalid}")
        if step.on_seam != "flag":
            lines.append(f"  seams: on a near miss of an amount an earlier step of the run answered: {step.on_seam}")
        for rank, name in enumerate(step.providers, 1):
            p = config.providers[name]
            v = verdict(config, step, p, today)  # type: ignore[operator]
            lines.append(
                f"  {rank}. {name:<16} {p.kind:<9} {p.model:<24} vendor {p.vendor:<10} region {p.region or '-':<5} "
                f"{'eligible' if v.eligible else 'BLOCKED':<9} {v.reason}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the sub-command."""
    parser = argparse.ArgumentParser(prog="crosswalk", description="Multi-model failover router for LLM calls.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a config file and print the routing table")
    check.add_argument("file", nargs="?", default=None, help="config file (default: $CROSSWALK_CONFIG, else the embedded config/default.yaml)")
    demo = sub.add_parser("demo", help="run the outage story on the simulated vendors")
    demo.add_argument("--config", default=None, help="config file (default: the embedded config/default.yaml)")
    demo.add_argument("--pace", type=float, default=0.02, help="seconds between requests (default 0.02)")
    serve = sub.add_parser("serve", help="run the OpenAI-compatible sidecar proxy")
    serve.add_argument("--config", default=None, help="config file (default: $CROSSWALK_CONFIG, else config/default.yaml)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="warning",
                       help="Crosswalk's log level (default warning; info adds one decision line per request)")
    serve.add_argument("--log-format", choices=("text", "json"), default="text", help="log lines as text or one JSON object each (default text)")
    report = sub.add_parser("report", help="per-step reliability and the pipeline figure from a /metrics page or file")
    report.add_argument("--metrics", required=True, help="URL of a /metrics endpoint, or a file holding its text")
    report.add_argument("--pipeline", default=None, help="comma-separated steps forming the pipeline (default: all)")
    explain = sub.add_parser("explain", help="why each provider of a step may or may not serve it")
    explain.add_argument("--step", required=True)
    explain.add_argument("--region", default=None, help="explain for a request that must stay in this region")
    explain.add_argument("--config", default=None, help="config file (default: $CROSSWALK_CONFIG, else config/default.yaml)")
    explain.add_argument("--url", default=None, help="a running `crosswalk serve` (adds live ejections and exclusions)")
    explain.add_argument("--key", default=None, help="API key for --url (default: $CROSSWALK_API_KEY)")
    unexclude = sub.add_parser("unexclude", help="lift a provider's hard exclusion on a running `crosswalk serve`")
    unexclude.add_argument("provider")
    unexclude.add_argument("--url", required=True, help="the running `crosswalk serve`")
    unexclude.add_argument("--key", default=None, help="API key for --url (default: $CROSSWALK_API_KEY)")
    args = parser.parse_args(argv)
    if args.command == "explain":
        return _explain(args)
    if args.command == "unexclude":
        return _unexclude(args)
    if args.command == "check":
        return _check(args.file)
    if args.command == "report":
        from crosswalk.router import report as report_mod

        try:
            text = report_mod.read_source(args.metrics)
        except (OSError, ValueError) as exc:
            print(f"error: cannot read metrics from {args.metrics}: {exc}", file=sys.stderr)
            return 1
        rows = report_mod.from_exposition(text)
        if not rows:
            print(f"error: no crosswalk_requests_total samples in {args.metrics}", file=sys.stderr)
            return 1
        try:
            print(report_mod.render(rows, [s.strip() for s in args.pipeline.split(",")] if args.pipeline else None))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        details = report_mod.render_details(text, rows)
        if details:
            print(details)
        return 0
    if args.command == "serve":
        from crosswalk.router import serve as serve_mod

        return serve_mod.main(args.config, args.host, args.port, args.workers, log_level=args.log_level, log_format=args.log_format)
    if args.command == "demo":
        from crosswalk.router import demo as demo_mod

        try:
            return demo_mod.main(args.config, sys.stdout, pace_s=args.pace)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
