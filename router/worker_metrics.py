"""One /metrics page for `crosswalk serve --workers N`.

The N worker processes share one port (SO_REUSEPORT), so a scrape lands on whichever
worker the kernel picks, and each worker counts only what it served. Rather than touch
the hot path (shared-memory counters, or prometheus_client's multiprocess files, which
would replace the plain dict counters in `metrics.py` with per-update file writes), the
workers talk only when scraped: each one answers on a Unix socket in a directory private
to this `serve` (made 0700 by the parent), and the scraped worker asks every peer for its
exposition text and merges them with its own. A request costs nothing extra; a scrape
costs one local round trip per worker.

Merging: counters, histograms and summaries are summed per label set (a `_created`
sample, which OpenMetrics keeps in the family, keeps the earliest); gauges, info and
untyped samples (the text format's `_created` gauges among them) get a `worker` label,
since a provider's standing or a process's memory is one worker's. `crosswalk_metrics_workers` says how
many workers' figures the page holds, against how many there are: a worker that did not
answer in time is left out and shows there, never silently.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger("crosswalk.serve")

_SUMMED = {"counter", "histogram", "summary", "gaugehistogram"}


class WorkerMetrics:
    """Worker `worker` (of `workers`) of one `serve`: answers peers, merges on scrape."""

    def __init__(self, *, directory: Path, worker: int, workers: int, own: Callable[[], bytes], timeout_s: float = 2.0) -> None:
        self.directory = directory
        self.worker = worker
        self.workers = workers
        self._own = own
        self._timeout_s = timeout_s
        self._path = directory / f"worker-{worker}.sock"
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen for peers' requests on this worker's socket."""
        self._path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._answer, path=str(self._path))

    async def stop(self) -> None:
        """Stop answering peers and remove the socket."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._path.unlink(missing_ok=True)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(self._own())
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the asking worker gave up; its page says this one is missing
        finally:
            writer.close()

    async def exposition(self) -> bytes:
        """Every worker's metrics, merged into one text exposition."""
        texts = {self.worker: self._own().decode()}
        peers = sorted(p for p in self.directory.glob("worker-*.sock") if p != self._path)
        answers = await asyncio.gather(*(self._ask(p) for p in peers))
        for path, text in zip(peers, answers):
            if text is not None:
                texts[int(path.stem.removeprefix("worker-"))] = text
        return merge(texts, workers=self.workers)

    async def _ask(self, path: Path) -> str | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                reader, writer = await asyncio.open_unix_connection(str(path))
                try:
                    return (await reader.read()).decode()
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            log.warning("crosswalk: /metrics left out %s (%s)", path.name, type(exc).__name__)
            return None


def merge(texts: dict[int, str], *, workers: int) -> bytes:
    """Merge workers' expositions (`texts` by worker index) into one."""
    from prometheus_client import generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Any] = {}
    rows: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for worker, text in sorted(texts.items()):
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                rows[family.name] = {}
            summed = family.type in _SUMMED
            table = rows[family.name]
            for sample in family.samples:
                labels = dict(sample.labels) if summed else {**sample.labels, "worker": str(worker)}
                key = (sample.name, tuple(sorted(labels.items())))
                if key not in table:
                    table[key] = sample.value
                elif sample.name.endswith("_created"):
                    table[key] = min(table[key], sample.value)
                else:
                    table[key] += sample.value
    count = Metric("crosswalk_metrics_workers", "Workers whose figures this page holds (answered) and how many there are (expected).", "gauge")
    count.add_sample("crosswalk_metrics_workers", {"kind": "answered"}, float(len(texts)))
    count.add_sample("crosswalk_metrics_workers", {"kind": "expected"}, float(workers))
    for name, metric in families.items():
        for (sample_name, labels), value in rows[name].items():
            metric.add_sample(sample_name, dict(labels), value)
    return generate_latest(_Families([*families.values(), count]))  # type: ignore[arg-type]


class _Families:
    """A ready list of families in the shape `generate_latest` reads (it calls collect())."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        return iter(self._families)
