"""`crosswalk serve`: run the sidecar proxy (one process, or N sharing the port)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crosswalk.router import logs
from crosswalk.router.auth import is_loopback, keys_from
from crosswalk.router.configfile import load_config, resolve_path
from crosswalk.router.errors import ConfigError

if TYPE_CHECKING:
    from crosswalk.policies.config import RouterConfig
    from crosswalk.router.proxy import ProxyState

log = logging.getLogger("crosswalk.serve")


class StartupError(RuntimeError):
    """The proxy must not start as asked; the message says why and what to do."""


async def serve(config_path: Path, host: str, port: int, *, reuse_port: bool = False, peers: "Peers | None" = None,
                config: "RouterConfig | None" = None) -> None:
    """Run one proxy process until cancelled or signalled. `peers`: this process is one
    of `serve --workers N`, and its /metrics shows every worker's. `config`: the file
    already loaded from `config_path` (the CLI validates it first; parsing it again cost
    about a twentieth of the start-up)."""
    from aiohttp import web
    from prometheus_client import generate_latest

    from crosswalk.router.connections import bounded_site
    from crosswalk.router.metrics import Metrics
    from crosswalk.router.proxy import ProxyState
    from crosswalk.router.proxy_app import build_app
    from crosswalk.router.reload import ConfigWatcher
    from crosswalk.router.runtime import Runtime

    config = config if config is not None else load_config(config_path)
    keys = keys_from(config.proxy.api_keys)
    if not keys and not is_loopback(host):
        raise StartupError(
            f"refusing to listen on {host} without API keys: set proxy.api_keys in {config_path} "
            "or CROSSWALK_API_KEYS, or bind to 127.0.0.1"
        )
    from crosswalk.router import otel

    stop_tracing = otel.setup()  # from the OTEL_* environment; None: tracing off
    metrics = Metrics(process=True)
    if peers is not None:
        from crosswalk.router.worker_metrics import WorkerMetrics

        metrics.workers = WorkerMetrics(directory=Path(peers.directory), worker=peers.worker, workers=peers.workers,
                                        own=lambda: generate_latest(metrics.registry))
        await metrics.workers.start()
    runtime = Runtime(config, metrics=metrics)
    await runtime.astart()
    proxy = ProxyState(runtime=runtime, keys=keys, host=host)
    app = build_app(proxy)
    # On the way out requests in flight may finish: none can outlast its step's deadline.
    longest_s = max((step.timeouts.total_s for step in config.steps.values()), default=0.0)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=longest_s + 1.0)
    await runner.setup()
    site = bounded_site(runner, host, port, config.proxy, reuse_port=reuse_port)  # limits, fd guard, error JSON
    await site.start()
    watcher = ConfigWatcher(proxy, config_path)
    watcher.start()
    signals = _Signals()
    log.warning("crosswalk: serving %d steps from %s on http://%s:%d (auth %s)", len(config.steps), config_path, host, port,
                "on" if keys else "off, loopback only")
    # Everything loaded so far lives as long as the process: keep the cyclic GC from
    # walking it again and again (full collections showed up as p99 latency spikes). No
    # collection first: the start-up leaves about 2,000 objects of garbage (measured on the
    # default config), frozen with the rest, where a full collection here took about 40 ms
    # of the time to ready.
    gc.freeze()
    gc.enable()  # `crosswalk serve` turned it off for the start-up (router/cli.py)
    try:
        await _until_stopped(proxy, signals)
    finally:
        await watcher.stop()
        await runner.cleanup()
        await runtime.aclose()
        if metrics.workers is not None:
            await metrics.workers.stop()
        if stop_tracing is not None:
            await asyncio.to_thread(stop_tracing)  # flushes spans still buffered


@dataclass(frozen=True)
class Peers:
    """Worker `worker` of `workers`; `directory` (private to this serve) holds their metrics sockets."""

    directory: str
    worker: int
    workers: int


class _Signals:
    """SIGTERM and SIGINT as they arrive on the running loop."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.last: int | None = None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on, sig)
            except (NotImplementedError, RuntimeError):
                pass

    def _on(self, sig: int) -> None:
        self.last = sig
        self.arrived.set()

    async def next(self, timeout_s: float | None = None) -> int | None:
        """The next signal, or None after `timeout_s`."""
        self.arrived.clear()
        try:
            async with asyncio.timeout(timeout_s):
                await self.arrived.wait()
        except TimeoutError:
            return None
        return self.last


async def _until_stopped(proxy: "ProxyState", signals: _Signals) -> None:
    """Return on SIGINT at once; on SIGTERM after the drain window, during which
    `/readyz` answers 503 `draining` and every request is still served, so a load balancer
    takes this replica out before its listener closes (a second signal ends the window)."""
    if await signals.next() != signal.SIGTERM:
        return
    drain_s = proxy.runtime.config.proxy.drain_s
    proxy.draining = True
    log.warning("crosswalk: SIGTERM: draining for %gs (/readyz answers 503 draining), then closing the listener", drain_s)
    await signals.next(drain_s)


def _worker(config_path: str, host: str, port: int, peers: Peers, log_level: str, log_format: str) -> None:
    gc.disable()  # as `crosswalk serve` does for one process: serve() turns it back on
    logs.setup(level=log_level, fmt=log_format)
    asyncio.run(serve(Path(config_path), host, port, reuse_port=True, peers=peers))


def main(config: str | None, host: str, port: int, workers: int, *, log_level: str = "warning", log_format: str = "text") -> int:
    """CLI entry: validate, then run 1 process or `workers` processes on one port."""
    logs.setup(level=log_level, fmt=log_format)
    path = resolve_path(config)
    try:
        config = load_config(path)  # fail fast, in the foreground, with the path-naming errors
        if workers <= 1:
            asyncio.run(serve(path, host, port, config=config))
            return 0
        if config.state.backend == "memory":  # each worker keeps its own stored responses
            log.warning("crosswalk: %d workers with state.backend memory: a previous_response_id is found only by the "
                        "worker that stored it (set state.backend: redis to share stored responses)", workers)
        gc.enable()  # this process only watches its workers
        return _run_workers(path, host, port, workers, (log_level, log_format))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _run_workers(path: Path, host: str, port: int, workers: int, log_opts: tuple[str, str]) -> int:
    """N processes share the port (SO_REUSEPORT); each has its own health state until a
    shared state backend is configured."""
    keys = keys_from(load_config(path).proxy.api_keys)
    if not keys and not is_loopback(host):
        raise StartupError(f"refusing to listen on {host} without API keys: set proxy.api_keys or CROSSWALK_API_KEYS, or bind to 127.0.0.1")
    ctx = multiprocessing.get_context("spawn")
    directory = tempfile.mkdtemp(prefix="crosswalk-metrics-")  # 0700: only this user's processes can ask a worker
    procs = [ctx.Process(target=_worker, args=(str(path), host, port, Peers(directory, i, workers), *log_opts), daemon=True)
             for i in range(workers)]
    for p in procs:
        p.start()

    def _stop(signum: int, _frame: object) -> None:
        for p in procs:  # the same signal: each worker drains on SIGTERM, stops at once on SIGINT
            if p.is_alive():
                os.kill(p.pid, signum)  # type: ignore[arg-type]

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, lambda *_: [os.kill(p.pid, signal.SIGHUP) for p in procs if p.is_alive()])  # type: ignore[arg-type]
    for p in procs:
        p.join()
    shutil.rmtree(directory, ignore_errors=True)
    return max((p.exitcode or 0) for p in procs)
