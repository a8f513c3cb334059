"""The `crosswalk` command: `check`, `demo`, `serve`, `report`, `explain`, `unexclude`.
One grammar: `--config FILE` wherever a file is read (check also takes it bare), defaulting
to $CROSSWALK_CONFIG; `--url` and `--key` wherever a running proxy is asked, the key
defaulting to $CROSSWALK_API_KEY, else the first of $CROSSWALK_API_KEYS (what serve reads)."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import urllib.parse
from typing import Any, Sequence

from crosswalk.router.errors import ConfigError


def _explain(args: argparse.Namespace) -> int:
    from crosswalk.router import explain as explain_mod
    from crosswalk.router import proxy_client
    from crosswalk.router.configfile import load_config

    if args.url:  # the running proxy explains with its own config and provider states
        if args.config:
            print(f"note: --config {args.config} is not read: {args.url} explains with the config it runs", file=sys.stderr)
        query = urllib.parse.urlencode({"step": args.step, **({"region": args.region} if args.region else {})})
        try:
            answer = proxy_client.call(args.url, proxy_client.operator_key(args.key), f"/v1/crosswalk/explain?{query}")
        except proxy_client.ProxyCallError as exc:
            print(f"error: {args.url}: {exc}", file=sys.stderr)
            return 1
        print("\n".join(answer["lines"]))
        return 0 if answer["usable"] else 1
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    unknown = explain_mod.unknown_step(args.step, config)
    if unknown is not None:
        print(f"error: {unknown}", file=sys.stderr)
        return 1
    lines, usable = explain_mod.explain(config, args.step, region=args.region, today=dt.date.today(), live=None)
    print("\n".join(lines))
    return 0 if usable else 1


def _unexclude(args: argparse.Namespace) -> int:
    from crosswalk.router import proxy_client

    try:
        answer = proxy_client.lift(args.url, proxy_client.operator_key(args.key), args.provider)
    except proxy_client.ProxyCallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(proxy_client.describe(answer))
    return 0


def _report(args: argparse.Namespace) -> int:
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


CONFIG_HELP = "config file (default: $CROSSWALK_CONFIG, else the embedded config/default.yaml)"
KEY_HELP = "API key for --url (default: $CROSSWALK_API_KEY, else the first of $CROSSWALK_API_KEYS)"
EXAMPLES = {
    "check": """examples:
  crosswalk check crosswalk.yaml
  crosswalk check --config crosswalk.yaml
  CROSSWALK_CONFIG=crosswalk.yaml crosswalk check
Every problem is listed in one run, each with its path and the fix; exit 1 when any.""",
    "demo": """examples:
  crosswalk demo
  crosswalk demo --pace 0""",
    "serve": """examples:
  crosswalk serve --config crosswalk.yaml
  CROSSWALK_API_KEYS=key1,key2 crosswalk serve --config crosswalk.yaml --host 0.0.0.0 --port 8080
  crosswalk serve --config crosswalk.yaml --workers 2 --log-level info --log-format json
Reloads the file when it changes, and on SIGHUP.""",
    "report": """examples:
  crosswalk report --metrics http://127.0.0.1:8080/metrics
  crosswalk report --metrics metrics.txt --pipeline extract,summarize,draft
Without --pipeline each step is reported on its own; with it, also the end-to-end figure.""",
    "explain": """examples:
  crosswalk explain --step draft --config crosswalk.yaml
  crosswalk explain --step draft --region eu
  crosswalk explain --step draft --url http://127.0.0.1:8080 --key $KEY
With --url the running proxy explains with its own config and live provider states.""",
    "unexclude": """examples:
  crosswalk unexclude beta-pro --url http://127.0.0.1:8080
  CROSSWALK_API_KEYS=key1 crosswalk unexclude beta-pro --url http://127.0.0.1:8080""",
}


def _command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=summary, epilog=EXAMPLES[name],
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def parser() -> argparse.ArgumentParser:
    """The command line: one grammar for every command (--config FILE wherever a file is
    read, --url and --key wherever a running proxy is asked)."""
    top = argparse.ArgumentParser(prog="crosswalk", description="Multi-model failover router for LLM calls.",
                                  epilog="Run `crosswalk COMMAND --help` for a command's options and examples.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = _command(sub, "check", "validate a config file and print the routing table")
    check.add_argument("file", nargs="?", default=None, help=CONFIG_HELP)
    check.add_argument("--config", dest="config", default=None, help="the same, as an option")
    demo = _command(sub, "demo", "run the outage story on the simulated vendors")
    demo.add_argument("--config", default=None, help=CONFIG_HELP)
    demo.add_argument("--pace", type=float, default=0.02, help="seconds between requests (default 0.02)")
    serve = _command(sub, "serve", "run the OpenAI-compatible sidecar proxy")
    serve.add_argument("--config", default=None, help=CONFIG_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="warning",
                       help="Crosswalk's log level (default warning; info adds one decision line per request)")
    serve.add_argument("--log-format", choices=("text", "json"), default="text", help="log lines as text or one JSON object each (default text)")
    report = _command(sub, "report", "per-step reliability from a /metrics page or file")
    report.add_argument("--metrics", required=True, help="URL of a /metrics endpoint, or a file holding its text")
    report.add_argument("--pipeline", default=None, help="comma-separated steps forming a pipeline: adds its end-to-end figure")
    explain = _command(sub, "explain", "why each provider of a step may or may not serve it")
    explain.add_argument("--step", required=True, help="the step (its name under steps:)")
    explain.add_argument("--region", default=None, help="explain for a request that must stay in this region")
    explain.add_argument("--config", default=None, help=CONFIG_HELP + "; not read with --url")
    explain.add_argument("--url", default=None, help="a running `crosswalk serve`: explains with its config, ejections and exclusions")
    explain.add_argument("--key", default=None, help=KEY_HELP)
    unexclude = _command(sub, "unexclude", "lift a provider's hard exclusion on a running `crosswalk serve`")
    unexclude.add_argument("provider")
    unexclude.add_argument("--url", required=True, help="the running `crosswalk serve`")
    unexclude.add_argument("--key", default=None, help=KEY_HELP)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the sub-command."""
    top = parser()
    args = top.parse_args(argv)
    if args.command == "check":
        from crosswalk.router import check as check_mod

        if args.file is not None and args.config is not None and args.file != args.config:
            top.error("check: give the file once (bare or with --config), not both")
        return check_mod.run(args.config or args.file)
    if args.command == "explain":
        return _explain(args)
    if args.command == "unexclude":
        return _unexclude(args)
    if args.command == "report":
        return _report(args)
    if args.command == "serve":
        # Start-up makes many objects that live as long as the process; the cyclic GC walking
        # them again and again during the imports was about a tenth of the time to ready.
        # serve() collects once, freezes what is left and turns the GC back on before serving.
        gc.disable()
        try:
            from crosswalk.router import serve as serve_mod

            return serve_mod.main(args.config, args.host, args.port, args.workers, log_level=args.log_level, log_format=args.log_format)
        finally:
            gc.enable()  # a refused start (a bad config) must not leave a caller's process without it
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
