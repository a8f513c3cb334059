"""Active probes: ejected providers are tried in the background with a minimal request,
so recovery is found without spending user requests; regulatory exclusions are re-probed
only on their long interval, and only when `health.reprobe_excluded` allows it.

A probe never goes through the failover engine: it is one call to one provider, and its
outcome touches only that provider's health (or exclusion)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from crosswalk.policies.actions import action_for
from crosswalk.policies.health import State
from crosswalk.providers.base import ChatRequest
from crosswalk.providers.classify import FailureClass, classify
from crosswalk.providers.errors import ProviderError, ProviderTimeout
from crosswalk.router.background import cancel_and_wait

if TYPE_CHECKING:
    from crosswalk.router.sdk import Router

log = logging.getLogger("crosswalk")
PROBE_BODY = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "temperature": 0}


class Prober:
    """The background probe loop of one router (follows config reloads)."""

    def __init__(self, router: "Router") -> None:
        self.router = router
        self.results: defaultdict[tuple[str, str], int] = defaultdict(int)  # (provider, ok|failure class)
        self.last: dict[str, deque[tuple[str, str]]] = defaultdict(lambda: deque(maxlen=5))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop on the current event loop."""
        self._task = asyncio.create_task(self._run(), name="crosswalk-probes")

    async def stop(self) -> None:
        """Stop probing."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            interval = self.router.config.health.probe_interval_s
            await asyncio.sleep(interval if interval > 0 else 60.0)
            if interval > 0:
                try:
                    await self.probe_due()
                except Exception:  # the loop must outlive any one bad probe
                    log.exception("crosswalk: probe round failed")

    def due(self) -> list[str]:
        """Providers to probe now: ejected ones, and regulatory exclusions about to lapse."""
        state = self.router.state
        spec = state.config.health
        now = state.clock.now()
        names = []
        for name, health in state.health.items():
            exclusion = state.exclusions.active(name, now)
            if exclusion is not None:
                lapsing = exclusion.until is not None and exclusion.until - now <= spec.probe_interval_s
                if exclusion.failure_class == FailureClass.REGULATORY.value and spec.reprobe_excluded and lapsing:
                    names.append(name)
            elif health.state is State.EJECTED:
                names.append(name)
        return names

    async def probe_due(self) -> None:
        """One round: probe every due provider concurrently."""
        names = self.due()
        if names:
            await asyncio.gather(*(self.probe(name) for name in names))

    async def probe(self, name: str) -> bool:
        """Send the minimal request to `name` and apply the outcome. True when it answered."""
        state = self.router.state
        provider = self.router.providers[name]
        spec = state.config.health
        try:
            async with asyncio.timeout(spec.probe_timeout_s):
                await provider.complete(ChatRequest(dict(PROBE_BODY)))
        except TimeoutError:
            return self._failed(name, ProviderTimeout(f"{name}: probe got no answer within {spec.probe_timeout_s:g}s", provider=name))
        except ProviderError as error:
            return self._failed(name, error)
        now = state.clock.now()
        if state.exclusions.active(name, now) is not None:
            state.exclusions.clear(name)
            log.warning("crosswalk: provider %s answered a re-probe; its exclusion is lifted", name)
        state.health[name].probe_succeeded(now)
        self._note(name, "ok")
        return True

    def _failed(self, name: str, error: ProviderError) -> bool:
        state = self.router.state
        outcome = classify(error)
        cls = outcome.failure_class
        self._note(name, cls.value)
        if action_for(cls).exclude:
            state.exclusions.clear(name)  # renew it from now, with the new evidence
            state.record_failure(name, action_for(cls), outcome, error)
        else:
            state.health[name].probe_failed()
        return False

    def _note(self, name: str, result: str) -> None:
        self.results[(name, result)] += 1
        self.last[name].append((self.router.clock.wall().isoformat(timespec="seconds"), result))
        metrics: Any = self.router.metrics
        if metrics is not None:
            metrics.probe(name, result)
