"""Active probes: ejected and half-open providers are tried in the background with a
minimal request, so recovery is found without spending user requests (the first answer
ends an ejection: live requests then take the provider's other half-open trial slots);
regulatory exclusions are re-probed only on their long interval, and only when
`health.reprobe_excluded` allows it.

A probe never goes through the failover chain: it is one call to one provider, and its
outcome touches only that provider's health (or exclusion), through
`RouterState.probe_result`; which providers are due is the state's to say
(`RouterState.due_for_probe`). The prober holds no router: it is given the current state
book and providers (callables, so a config reload is followed), the clock it waits on, and
where to count its results."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Mapping, Protocol

from crosswalk.providers.base import ChatRequest, Provider
from crosswalk.providers.errors import ProviderError, ProviderTimeout
from crosswalk.router.background import cancel_and_wait
from crosswalk.router.clock import Clock
from crosswalk.router.state import RouterState

log = logging.getLogger("crosswalk")
PROBE_BODY = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "temperature": 0}
IDLE_S = 60.0  # how often a disabled prober (probe_interval_s: 0) looks again, for a reload


class ProbeCounter(Protocol):
    """Where probe results are counted (the router's `Metrics`)."""

    def probe(self, provider: str, result: str) -> None: ...


class Prober:
    """The background probe loop of one router (follows config reloads)."""

    def __init__(self, state: Callable[[], RouterState], providers: Callable[[], Mapping[str, Provider]], *,
                 clock: Clock, metrics: ProbeCounter | None = None) -> None:
        self._state = state
        self._providers = providers
        self._clock = clock
        self._metrics = metrics
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
            interval = self._state().config.health.probe_interval_s
            await self._clock.sleep(interval if interval > 0 else IDLE_S)
            if interval > 0:
                try:
                    await self.probe_due()
                except Exception:  # the loop must outlive any one bad probe
                    log.exception("crosswalk: probe round failed")

    def due(self) -> list[str]:
        """Providers to probe now: ejected and half-open ones, and regulatory exclusions about to lapse."""
        return self._state().due_for_probe()

    async def probe_due(self) -> None:
        """One round: probe every due provider concurrently."""
        names = self.due()
        if names:
            await asyncio.gather(*(self.probe(name) for name in names))

    async def probe(self, name: str) -> bool:
        """Send the minimal request to `name` and apply the outcome. True when it answered."""
        state = self._state()  # the outcome belongs to the config the probe was sent under
        provider = self._providers()[name]
        timeout_s = state.config.health.probe_timeout_s
        error: ProviderError | None = None
        try:
            async with asyncio.timeout(timeout_s):
                await provider.complete(ChatRequest(dict(PROBE_BODY)))
        except TimeoutError:
            error = ProviderTimeout(f"{name}: probe got no answer within {timeout_s:g}s", provider=name)
        except ProviderError as exc:
            error = exc
        result = state.probe_result(name, error)
        if self._metrics is not None:
            self._metrics.probe(name, result)
        return error is None
