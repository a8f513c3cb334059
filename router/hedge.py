"""Hedged requests (after Tail at Scale): the attempts of one request that are in flight
at once, and when to add the second.

An attempt that has not answered (a stream: reached its commit point) within the step's
hedge delay gets company: the same request goes to the next eligible provider, chosen by
the usual selection but never a provider already in flight and never in panic. The first
good answer wins and the other attempt is cancelled; cancelling its task unwinds the
adapter's `async with session.post(...)`, which closes the upstream connection, so the
vendor stops working on it. A racer that fails does not end the race: the other may still
answer (it stands in for a same-provider retry, so none is taken), and only when none is
left in flight do the normal failover rules pick the next attempt.

One hedge per request, paid from the retry budget (no budget, no hedge), counted in
`max_attempts`, bounded by the step's deadline like every attempt. `first_answer` drives
the race for both the non-streamed and the streamed hedged paths of the failover chain
(router/chain.py); `Race` keeps its bookkeeping.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Callable

from crosswalk.policies.selection import Choice
from crosswalk.providers.errors import ProviderError
from crosswalk.router.attempts import StepRun


@dataclass(eq=False, slots=True)
class Racer:
    """One attempt in flight: `task` ends with the answer (a stream: the chunks up to the
    commit point) or a `ProviderError`. `upstream` is a stream's chunk iterator."""

    choice: Choice
    started: float
    hedge: bool
    task: asyncio.Task[Any]
    upstream: AsyncIterator[dict[str, Any]] | None = None


class Race:
    """The racers of one request: the current attempt and at most one hedge.

    Use: `start` an attempt; `wait` for racers to finish (an empty list means the lone
    racer ran past its hedge delay: ask `hedge` for a provider); `settle` when one won;
    always `close` at the end (it cancels whatever still runs and waits for it)."""

    def __init__(self, run: StepRun, *, close_upstream: Callable[[AsyncIterator[dict[str, Any]]], Awaitable[None]] | None = None) -> None:
        self.run = run
        self.racers: list[Racer] = []
        self._hedged = run.step.hedge is None
        self._ended: list[Racer] = []  # cancelled or beaten: to be awaited and closed
        self._close_upstream = close_upstream

    def start(self, choice: Choice, attempt: Awaitable[Any], *, hedge: bool = False, upstream: AsyncIterator[dict[str, Any]] | None = None) -> Racer:
        """Run `attempt` (a coroutine for `choice`, created just now) as a racer."""
        racer = Racer(choice, self.run.clock.now(), hedge, asyncio.ensure_future(attempt), upstream)
        self.racers.append(racer)
        return racer

    async def wait(self) -> list[Racer]:
        """The racers that finished, in the order they started; empty when it is time to
        hedge the lone racer."""
        timeout = self._until_hedge()
        done, _ = await asyncio.wait([r.task for r in self.racers], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finished = [r for r in self.racers if r.task in done]
        self.racers = [r for r in self.racers if r.task not in done]
        return finished

    def _until_hedge(self) -> float | None:
        if self._hedged or len(self.racers) != 1:
            return None
        lone = self.racers[0]
        wait = lone.started + self.run.hedge_delay(lone.choice.provider) - self.run.clock.now()
        if wait >= self.run.remaining():
            return None  # the deadline comes first: nothing to gain from a hedge
        return max(0.0, wait)

    async def discard(self, racer: Racer) -> None:
        """Close the upstream of a racer that failed (a stream's connection)."""
        if racer.upstream is not None and self._close_upstream is not None:
            await self._close_upstream(racer.upstream)

    def hedge(self) -> Choice | None:
        """The provider for this request's one hedge, or None (no budget, no attempt left,
        no other eligible provider): either way there is no second try at hedging."""
        self._hedged = True
        return self.run.hedge_choice({r.choice.provider for r in self.racers})

    def settle(self, winner: Racer, *, beaten: tuple[Racer, ...] = (), record_winner: Callable[[], object] | None = None) -> None:
        """`winner` answered first: cancel the racers still running and record the race in
        the order it started, each loser (and each of `beaten`, finished too late) as lost
        and the winner by `record_winner` (a stream records its winner when it ends)."""
        losers = [*self.racers, *beaten]
        self.racers = []
        for racer in losers:
            racer.task.cancel()
        self._ended += losers
        for racer in sorted([winner, *losers], key=lambda r: r.started):
            if racer is winner:
                if record_winner is not None:
                    record_winner()
            else:
                self.run.lost(racer.choice, racer.started, winner=winner.choice.provider, hedge=racer.hedge)

    async def close(self) -> None:
        """Cancel the racers still running (the caller went away or an error ends the
        request: no verdict on their providers), and wait until every cancelled racer has
        ended and its upstream is closed."""
        for racer in self.racers:
            racer.task.cancel()
            self.run.abandoned(racer.choice, racer.started)
        ended, self._ended, self.racers = [*self._ended, *self.racers], [], []
        if not ended:
            return
        await asyncio.wait([r.task for r in ended])
        for racer in ended:
            if not racer.task.cancelled():
                racer.task.exception()  # retrieved: a late failure of a beaten racer is no news
            if racer.upstream is not None and self._close_upstream is not None:
                await self._close_upstream(racer.upstream)


Launch = Callable[[Race, Choice, bool], None]


async def first_answer(race: Race, launch: Launch, *, record_winner: Callable[[Racer], object] | None = None) -> tuple[Racer, Any]:
    """Drive `race` until a racer answers; returns the winner and its answer (a stream:
    the chunks up to its commit point). `launch(race, choice, hedge)` starts a racer for
    `choice`; `record_winner(winner)`, if given, records the winner in start order with the
    losers. The caller still owes `race.close()`, whatever happens here."""
    run = race.run
    while True:
        if not race.racers:
            launch(race, await run.next(), False)
        finished = await race.wait()
        if not finished:
            choice = race.hedge()
            if choice is not None:
                launch(race, choice, True)
            continue
        answers = []
        for racer in finished:
            try:
                answers.append((racer, racer.task.result()))
            except ProviderError as error:  # the other racer, if any, may still answer
                run.failed(racer.choice, error, racer.started, hedge=racer.hedge, racing=bool(race.racers))
                await race.discard(racer)
        if answers:
            (winner, answer), beaten = answers[0], tuple(r for r, _ in answers[1:])
            record = None if record_winner is None else partial(record_winner, winner)
            race.settle(winner, beaten=beaten, record_winner=record)
            return winner, answer
