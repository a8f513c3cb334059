"""Step execution: send a request down a step's ranked providers under its timeouts.

Non-streaming: each attempt gets min(per-try timeout, time left). Streaming: the first
token must come within the TTFT timeout and later chunks within the idle timeout. Chunks
are held back until the first one that carries content (the commit point); before it any
failure fails over, after it the stream ends with `StreamInterrupted`, never a silent
truncation. The answering provider's name replaces the `model` field.

A step with `hedge` races its attempts (router/hedge.py): a non-streamed attempt that has
not answered within the hedge delay, or a stream that has not reached its commit point,
is joined by one hedge to another provider; the first to answer (commit) wins and the
other is cancelled. After the commit point nothing is hedged.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Mapping, Protocol, TypeVar

from crosswalk.policies.config import StepConf
from crosswalk.providers.base import ChatRequest, Provider, chunk_commits
from crosswalk.providers.errors import ProviderError, ProviderTimeout, StreamBroken
from crosswalk.providers.jsonwire import encoding_problem
from crosswalk.router.attempts import StepRun
from crosswalk.router.errors import CrosswalkError, DeadlineExceeded, InvalidRequest, StreamInterrupted, UnknownStep
from crosswalk.router.hedge import Race, Racer
from crosswalk.router.records import DecisionRecord
from crosswalk.router.state import RouterState
from crosswalk.router.verify import Verifier, synthetic_chunks

log = logging.getLogger("crosswalk")
T = TypeVar("T")


class Observer(Protocol):
    """Told of every finished request (metrics); must be cheap and must not raise."""

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None: ...

    def first_token(self, step: str, seconds: float) -> None: ...

    def agreement(self, step: str, comparator: str, decision: str, mode: str) -> None: ...


class Engine:
    """Runs steps against providers, sharing one `RouterState`."""

    def __init__(self, state: RouterState, providers: Mapping[str, Provider], *, observer: Observer | None = None) -> None:
        self.state = state
        self.providers = providers
        self.observer = observer
        self.verifier = Verifier(self)

    def _done(self, record: DecisionRecord, error: CrosswalkError | None) -> None:
        if self.observer is not None:
            self.observer.request_done(record, error)
        if log.isEnabledFor(logging.INFO):
            log.info("crosswalk decision %s%s", record.summary(), f" error={error.error_type}" if error else "")

    def step(self, name: str) -> StepConf:
        """The step called `name`, or `UnknownStep` listing the known ones."""
        step = self.state.config.steps.get(name)
        if step is None:
            known = ", ".join(sorted(self.state.config.steps))
            raise UnknownStep(f"unknown step '{name}' (known steps: {known})", step=name)
        return step

    def _sendable(self, step: StepConf, body: dict[str, Any]) -> None:
        """Refuse, before any upstream call, a body no provider could be sent (too deep,
        or a value JSON cannot carry): the caller's error, not a provider failure."""
        problem = encoding_problem(body)
        if problem is not None:
            raise InvalidRequest(f"step '{step.name}': the request body cannot be sent as JSON: {problem}", step=step.name)

    async def complete(self, step_name: str, body: dict[str, Any]) -> tuple[dict[str, Any], DecisionRecord]:
        """Run a non-streaming request; returns the completion dict and its record."""
        step = self.step(step_name)
        self._sendable(step, body)
        if step.verify is not None:
            return await self.verifier.complete(step, body)
        return await self.complete_step(step, body)

    async def complete_step(self, step: StepConf, body: dict[str, Any], *, observe: bool = True) -> tuple[dict[str, Any], DecisionRecord]:
        """`complete` for a given step config (a verification panel member runs a narrowed
        copy of its step; it is observed as part of the whole, so `observe=False`)."""
        request = ChatRequest(body)
        run = StepRun(self.state, step, request=request)
        try:
            result = await self._complete(run, request)
        except CrosswalkError as error:
            if observe:
                self._done(run.record, error)
            raise
        if observe:
            self._done(run.record, None)
        return result, run.record

    async def _complete(self, run: StepRun, request: ChatRequest) -> dict[str, Any]:
        if run.step.hedge is not None:
            return await self._complete_hedged(run, request)
        per_try = run.step.timeouts.per_try_s
        while True:
            choice = await run.next()
            provider = self.providers[choice.provider]
            started = run.clock.now()
            budget = min(per_try, run.remaining())
            try:
                result = await _within(provider.complete(request), budget)
            except TimeoutError:
                run.failed(choice, _timeout(choice.provider, "total", budget), started)
                continue
            except ProviderError as error:
                run.failed(choice, error, started)
                continue
            except asyncio.CancelledError:
                run.abandoned(choice)
                raise
            except Exception as exc:  # an adapter bug: a failed attempt, never a leaked probe slot
                run.failed(choice, _adapter_error(choice.provider, exc), started)
                continue
            except BaseException:
                run.abandoned(choice)
                raise
            run.succeeded(choice, started)
            result["model"] = choice.provider
            return result

    async def _complete_hedged(self, run: StepRun, request: ChatRequest) -> dict[str, Any]:
        """`_complete` for a hedging step: attempts race, the first answer wins."""
        race = Race(run)
        try:
            while True:
                if not race.racers:
                    self._ask(race, request, await run.next())
                finished = await race.wait()
                if not finished:
                    choice = race.hedge()
                    if choice is not None:
                        self._ask(race, request, choice, hedge=True)
                    continue
                answers = []
                for racer in finished:
                    try:
                        answers.append((racer, racer.task.result()))
                    except ProviderError as error:  # the other racer, if any, may still answer
                        run.failed(racer.choice, error, racer.started, hedge=racer.hedge, racing=bool(race.racers))
                if answers:
                    (winner, result), beaten = answers[0], tuple(r for r, _ in answers[1:])
                    race.settle(winner, beaten=beaten, record_winner=partial(run.succeeded, winner.choice, winner.started, hedge=winner.hedge))
                    result["model"] = winner.choice.provider
                    return result
        finally:
            await race.close()

    def _ask(self, race: Race, request: ChatRequest, choice: Any, *, hedge: bool = False) -> None:
        budget = min(race.run.step.timeouts.per_try_s, race.run.remaining())
        race.start(choice, _answer(self.providers[choice.provider], request, choice.provider, budget), hedge=hedge)

    async def stream(self, step_name: str, body: dict[str, Any], record_out: list[DecisionRecord] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run a streaming request, yielding chunk dicts. The decision record is appended
        to `record_out` at once and filled in as attempts happen."""
        step = self.step(step_name)
        self._sendable(step, body)
        if step.verify is not None:  # verified steps answer once verification is done
            result, record = await self.verifier.complete(step, {k: v for k, v in body.items() if k not in ("stream", "stream_options")})
            if record_out is not None:
                record_out.append(record)
            for chunk in synthetic_chunks(result):
                yield chunk
            return
        request = ChatRequest({**body, "stream": True})
        run = StepRun(self.state, step, kind="ttft", request=request)
        if record_out is not None:
            record_out.append(run.record)
        try:
            # aclosing: a caller who stops reading closes the inner generators at once (releasing
            # the attempt and the upstream), not whenever the garbage collector gets to them.
            async with aclosing(self._stream(run, request)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except CrosswalkError as error:
            self._done(run.record, error)
            raise
        self._done(run.record, None)

    async def _stream(self, run: StepRun, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        if run.step.hedge is not None:
            async with aclosing(self._stream_hedged(run, request)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        timeouts = run.step.timeouts
        while True:
            choice = await run.next()
            started = run.clock.now()
            upstream = self.providers[choice.provider].stream(request)
            try:
                # Before the commit point: nothing has reached the caller, so fail over freely.
                held = await _to_commit(run, upstream, choice.provider, started + timeouts.ttft_s)
            except ProviderError as error:
                run.failed(choice, error, started)
                await _close(upstream)
                continue
            except BaseException:
                run.abandoned(choice)
                await _close(upstream)
                raise
            run.committed(choice, started)
            async with aclosing(self._after_commit(run, choice, upstream, held, started)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return

    async def _stream_hedged(self, run: StepRun, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """`_stream` for a hedging step: attempts race to the commit point."""
        race = Race(run, close_upstream=_close)
        try:
            winner, held = await self._race_to_commit(race, request)
        finally:
            await race.close()
        assert winner.upstream is not None
        run.committed(winner.choice, winner.started)
        async with aclosing(self._after_commit(run, winner.choice, winner.upstream, held, winner.started, hedge=winner.hedge)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _race_to_commit(self, race: Race, request: ChatRequest) -> tuple[Racer, list[dict[str, Any]]]:
        run = race.run
        while True:
            if not race.racers:
                self._open(race, request, await run.next())
            finished = await race.wait()
            if not finished:
                choice = race.hedge()
                if choice is not None:
                    self._open(race, request, choice, hedge=True)
                continue
            committed = []
            for racer in finished:
                try:
                    committed.append((racer, racer.task.result()))
                except ProviderError as error:
                    run.failed(racer.choice, error, racer.started, hedge=racer.hedge, racing=bool(race.racers))
                    assert racer.upstream is not None
                    await _close(racer.upstream)
            if committed:
                (winner, held), beaten = committed[0], tuple(r for r, _ in committed[1:])
                race.settle(winner, beaten=beaten)
                return winner, held

    def _open(self, race: Race, request: ChatRequest, choice: Any, *, hedge: bool = False) -> None:
        run = race.run
        upstream = self.providers[choice.provider].stream(request)
        ttft_deadline = run.clock.now() + run.step.timeouts.ttft_s
        race.start(choice, _to_commit(run, upstream, choice.provider, ttft_deadline), hedge=hedge, upstream=upstream)

    async def _after_commit(self, run: StepRun, choice: Any, upstream: AsyncIterator[dict[str, Any]], held: list[dict[str, Any]], started: float, *, hedge: bool = False) -> AsyncIterator[dict[str, Any]]:
        name = choice.provider
        idle = run.step.timeouts.idle_s
        try:
            if self.observer is not None:
                self.observer.first_token(run.step.name, run.clock.now() - run.started)
            for chunk in held:
                chunk["model"] = name
                yield chunk
            while True:
                wait = min(idle, run.remaining())
                try:
                    chunk = await _next_chunk(upstream, wait, name, "idle")
                except StopAsyncIteration:
                    break
                chunk["model"] = name
                yield chunk
        except ProviderError as error:
            cls = run.failed(choice, error, started, may_fail_over=False, hedge=hedge)
            if run.remaining() <= 0:
                raise DeadlineExceeded(
                    f"step '{run.step.name}': deadline of {run.step.timeouts.total_s:g}s exceeded mid-stream from {name}; the answer is incomplete",
                    step=run.step.name, attempts=run.record.attempts,
                ) from None
            raise StreamInterrupted(
                f"step '{run.step.name}': stream from {name} failed after it had started ({cls.value}: {error.message}); the answer is incomplete",
                step=run.step.name, attempts=run.record.attempts,
            ) from None
        except BaseException:
            run.abandoned(choice)
            raise
        finally:
            await _close(upstream)
        run.succeeded(choice, started, hedge=hedge)


async def _answer(provider: Provider, request: ChatRequest, name: str, budget: float) -> dict[str, Any]:
    """One non-streamed attempt under its time budget (a hedge racer)."""
    try:
        async with asyncio.timeout(budget):
            return await provider.complete(request)
    except TimeoutError:
        raise _timeout(name, "total", budget) from None
    except (ProviderError, asyncio.CancelledError):
        raise
    except Exception as exc:
        raise _adapter_error(name, exc) from None


async def _to_commit(run: StepRun, upstream: AsyncIterator[dict[str, Any]], provider: str, ttft_deadline: float) -> list[dict[str, Any]]:
    """Read a stream up to its first committing chunk (or its clean end, with nothing to
    say: then what there is gets delivered), within the TTFT and step deadlines."""
    held: list[dict[str, Any]] = []
    try:
        while not held or not chunk_commits(held[-1]):
            wait = min(ttft_deadline, run.deadline) - run.clock.now()
            held.append(await _next_chunk(upstream, wait, provider, "first_token"))
    except StopAsyncIteration:
        pass
    return held


async def _next_chunk(upstream: AsyncIterator[dict[str, Any]], wait: float, provider: str, phase: str) -> dict[str, Any]:
    if wait <= 0:
        raise _timeout(provider, phase, 0.0)
    try:
        async with asyncio.timeout(wait):
            return await anext(upstream)
    except TimeoutError:
        raise _timeout(provider, phase, wait) from None
    except StopAsyncIteration:
        raise
    except (ProviderError, asyncio.CancelledError):
        raise
    except Exception as exc:  # an adapter bug must not escape as a foreign exception
        log.debug("crosswalk: provider %s raised %s while streaming", provider, type(exc).__name__, exc_info=True)
        raise StreamBroken(f"{provider}: {type(exc).__name__} while streaming", provider=provider, reason="adapter") from None


def _adapter_error(provider: str, exc: Exception) -> ProviderError:
    """A foreign exception from an adapter (a bug: adapters raise only ProviderError) as a
    failed attempt on that provider. Only its type is kept: its text may hold the request."""
    log.warning("crosswalk: provider %s raised %s (an adapter bug; counted as a failed attempt)", provider, type(exc).__name__)
    log.debug("crosswalk: provider %s adapter error", provider, exc_info=exc)
    return ProviderError(f"{provider}: {type(exc).__name__} in the adapter", provider=provider)


async def _within(call: Awaitable[T], seconds: float) -> T:
    """`await call`, raising TimeoutError after `seconds`. A bare timer handle that cancels
    this task: asyncio.timeout's bookkeeping cost several microseconds per request."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    handle = loop.call_later(seconds, fire)
    try:
        return await call
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


def _timeout(provider: str, phase: str, seconds: float) -> ProviderTimeout:
    what = {"total": "no answer", "first_token": "no first token", "idle": "stream idle"}[phase]
    limit = f"within {seconds:.3g}s" if seconds > 0 else "before the step's time ran out"
    return ProviderTimeout(f"{provider}: {what} {limit}", provider=provider, phase=phase)


async def _close(upstream: AsyncIterator[dict[str, Any]]) -> None:
    aclose = getattr(upstream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing a broken stream may fail again; the failure is already recorded
            pass
