"""The failover chain: send a request down a step's ranked providers under its timeouts.

Non-streaming: each attempt gets min(per-try timeout, time left). Streaming: the first
token must come within the TTFT timeout and later chunks within the idle timeout. Chunks
are held back until the first one that carries content (the commit point); before it any
failure fails over, after it the stream ends with `StreamInterrupted`, never a silent
truncation. `model` stays the vendor's (the provider's configured model when the vendor
sends none); the answering provider's name is in the decision record.

A step with `hedge` races its attempts (router/hedge.py): a non-streamed attempt that has
not answered within the hedge delay, or a stream that has not reached its commit point,
is joined by one hedge to another provider; the first to answer (commit) wins and the
other is cancelled. After the commit point nothing is hedged.

The chain knows nothing of verification: a verifier (router/verify.py) wraps it, and the
runtime (router/runtime.py) picks which of the two serves a step.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Mapping, Protocol, TypeVar

from crosswalk.policies.config import ProviderConf, StepConf
from crosswalk.policies.selection import Choice
from crosswalk.providers.base import REQUEST_ID, ChatRequest, Provider, chunk_commits
from crosswalk.providers.errors import ProviderError, ProviderTimeout, StreamBroken
from crosswalk.router.attempts import StepRun
from crosswalk.router.errors import CrosswalkError, DeadlineExceeded, StreamInterrupted
from crosswalk.router.hedge import Race, first_answer
from crosswalk.router.records import DecisionRecord
from crosswalk.router.state import RouterState

log = logging.getLogger("crosswalk")
T = TypeVar("T")


class Observer(Protocol):
    """Told of every finished request (metrics); must be cheap and must not raise."""

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None: ...

    def first_token(self, step: str, seconds: float) -> None: ...


class FailoverChain:
    """Runs steps down their ranked providers, sharing one `RouterState`."""

    def __init__(self, state: RouterState, providers: Mapping[str, Provider], *, observer: Observer | None = None) -> None:
        self.state = state
        self.providers = providers
        self.observer = observer

    def _done(self, record: DecisionRecord, error: CrosswalkError | None) -> None:
        if self.observer is not None:
            self.observer.request_done(record, error)
        if log.isEnabledFor(logging.INFO):
            log.info("crosswalk decision %s%s", record.summary(), f" error={error.error_type}" if error else "")

    def candidates(self, step: StepConf) -> list[ProviderConf]:
        """The providers `step` may use now, best first (what a verification panel is drawn from)."""
        state = self.state
        return [state.config.providers[n] for n in state.candidates(step)]

    async def complete(self, step: StepConf, body: dict[str, Any], *, observe: bool = True) -> tuple[dict[str, Any], DecisionRecord]:
        """Run a non-streaming request for `step`; returns the completion dict and its
        record. `observe=False` for a part of a larger request (a verification panel
        member runs a narrowed copy of its step and is observed as part of the whole)."""
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
            run.succeeded(choice, started, request_id=result.pop(REQUEST_ID, None))
            self._name_model(result, choice.provider)
            return result

    async def _complete_hedged(self, run: StepRun, request: ChatRequest) -> dict[str, Any]:
        """`_complete` for a hedging step: attempts race, the first answer wins."""
        race = Race(run)
        try:
            winner, result = await first_answer(race, partial(self._ask, request), record_winner=lambda w: run.succeeded(
                w.choice, w.started, hedge=w.hedge, request_id=w.task.result().pop(REQUEST_ID, None)))
        finally:
            await race.close()
        self._name_model(result, winner.choice.provider)
        return result

    def _name_model(self, message: dict[str, Any], provider: str) -> None:
        """`model` as the vendor named the model that answered (cost lookups and clients'
        model checks read it), else the provider's configured model; the provider's alias
        is in the record (and the proxy's x-crosswalk-provider)."""
        if not message.get("model") or not isinstance(message["model"], str):
            conf = self.state.config.providers.get(provider)
            message["model"] = conf.model if conf is not None else provider

    def _ask(self, request: ChatRequest, race: Race, choice: Choice, hedge: bool) -> None:
        budget = min(race.run.step.timeouts.per_try_s, race.run.remaining())
        race.start(choice, _answer(self.providers[choice.provider], request, choice.provider, budget), hedge=hedge)

    async def stream(self, step: StepConf, body: dict[str, Any], record_out: list[DecisionRecord] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run a streaming request for `step`, yielding chunk dicts. The decision record is
        appended to `record_out` at once and filled in as attempts happen."""
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
            winner, held = await first_answer(race, partial(self._open, request))
        finally:
            await race.close()
        assert winner.upstream is not None
        run.committed(winner.choice, winner.started)
        async with aclosing(self._after_commit(run, winner.choice, winner.upstream, held, winner.started, hedge=winner.hedge)) as chunks:
            async for chunk in chunks:
                yield chunk

    def _open(self, request: ChatRequest, race: Race, choice: Choice, hedge: bool) -> None:
        run = race.run
        upstream = self.providers[choice.provider].stream(request)
        ttft_deadline = run.clock.now() + run.step.timeouts.ttft_s
        race.start(choice, _to_commit(run, upstream, choice.provider, ttft_deadline), hedge=hedge, upstream=upstream)

    async def _after_commit(self, run: StepRun, choice: Choice, upstream: AsyncIterator[dict[str, Any]], held: list[dict[str, Any]], started: float, *, hedge: bool = False) -> AsyncIterator[dict[str, Any]]:
        name = choice.provider
        idle = run.step.timeouts.idle_s
        try:
            if self.observer is not None:
                self.observer.first_token(run.step.name, run.clock.now() - run.started)
            for chunk in held:
                self._name_model(chunk, name)
                yield chunk
            while True:
                wait = min(idle, run.remaining())
                try:
                    chunk = await _next_chunk(upstream, wait, name, "idle")
                except StopAsyncIteration:
                    break
                self._name_model(chunk, name)
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
