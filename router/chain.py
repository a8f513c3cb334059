"""The failover chain: send a request down a step's ranked providers under its timeouts.

Non-streaming: each attempt gets min(per-try timeout, time left). Streaming: the first
token must come within the TTFT timeout and later chunks within the idle timeout. Chunks
are held back until the first one that carries content (the commit point; a step's
`stream.hold` holds more, or the whole answer); before it any failure fails over. After
it, a broken stream is resumed on the next provider (router/resume.py), or ends with
`StreamInterrupted` naming the real failure, never a silent truncation. `model` stays
the vendor's (the provider's configured model when the vendor sends none); the answering
provider's name is in the decision record.

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
import math
from contextlib import aclosing
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol, TypeVar

from crosswalk.policies.config import ProviderConf, StepConf
from crosswalk.policies.prefill import PrefillRefusals
from crosswalk.policies.selection import Choice
from crosswalk.providers.base import REQUEST_ID, ChatRequest, Native, Provider, chunk_commits, stream_text
from crosswalk.providers.errors import ProviderError, ProviderTimeout, StreamBroken
from crosswalk.router import logs
from crosswalk.router.attempts import StepRun
from crosswalk.router.dialect_fit import DialectFit, note_dialect
from crosswalk.router.errors import CrosswalkError, DeadlineExceeded
from crosswalk.router.hedge import Race, first_answer
from crosswalk.router.idle_watch import IdleWatch
from crosswalk.router.records import DecisionRecord, usage_of
from crosswalk.router.resume import Readers, Resumer
from crosswalk.router.state import RouterState
from crosswalk.router.validation import answer_text, screen, screened

log = logging.getLogger("crosswalk")
T = TypeVar("T")


class Observer(Protocol):
    """Told of every finished request (metrics); must be cheap and must not raise."""

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None: ...

    def first_token(self, step: str, seconds: float) -> None: ...


class FailoverChain:
    """Runs steps down their ranked providers, sharing one `RouterState`."""

    def __init__(self, state: RouterState, providers: Mapping[str, Provider], *, observer: Observer | None = None,
                 prefill_refusals: PrefillRefusals | None = None) -> None:
        """`prefill_refusals`: which providers rejected a prefill lately (mid-stream
        recovery); the runtime keeps one across reloads."""
        self.state = state
        self.providers = providers
        self.observer = observer
        self.prefill_refusals = prefill_refusals if prefill_refusals is not None else PrefillRefusals()
        self.fit = DialectFit(providers)  # which provider can carry a request of another dialect

    def _done(self, run: StepRun, error: CrosswalkError | None) -> None:
        record = run.record
        if record.provider is not None and record.served is None:
            self.fit.note_served(run.record, run.request, record.provider)
        if self.observer is not None:
            self.observer.request_done(record, error)
        logs.decision(record, error)

    def candidates(self, step: StepConf) -> list[ProviderConf]:
        """The providers `step` may use now, best first (what a verification panel is drawn from)."""
        state = self.state
        return [state.config.providers[n] for n in state.candidates(step)]

    async def complete(self, step: StepConf, body: dict[str, Any], *, observe: bool = True,
                       native: Native | None = None,
                       record_out: list[DecisionRecord] | None = None) -> tuple[dict[str, Any], DecisionRecord]:
        """Run a non-streaming request for `step`; returns the completion dict and its
        record. `observe=False` for a part of a larger request (a verification panel
        member runs a narrowed copy of its step and is observed as part of the whole).
        `native`: the caller's own request when it spoke another dialect than Chat.
        `record_out` gets the record at once (a cancelled caller still learns what was done)."""
        step, ineligible = self.fit.narrow(step, native)
        request = ChatRequest(body, native)
        run = StepRun(self.state, step, request=request)
        note_dialect(run.record, native, ineligible)
        if record_out is not None:
            record_out.append(run.record)
        try:
            result = await self._complete(run, request)
        except CrosswalkError as error:
            if observe:
                self._done(run, error)
            raise
        except asyncio.CancelledError:  # the caller went away: its calls were made all the same
            if observe:
                run.cancelled()
                self._done(run, None)
            raise
        if observe:
            self._done(run, None)
        return result, run.record

    async def _complete(self, run: StepRun, request: ChatRequest) -> dict[str, Any]:
        if run.step.hedge is not None:
            return await self._complete_hedged(run, request)
        providers = self.providers
        check = None
        if run.step.validate is not None:  # an invalid answer fails over as OutputRejected
            def check(choice: Choice, result: dict[str, Any]) -> None:
                run.record.validation += screen(run, choice.provider, answer_text(result), self.observer)
        choice, result = await first_success(run, lambda choice: providers[choice.provider].complete(request), check=check)
        run.record.usage = usage_of(result)
        self._name_model(result, choice.provider)
        return result

    async def _complete_hedged(self, run: StepRun, request: ChatRequest) -> dict[str, Any]:
        """`_complete` for a hedging step: attempts race, the first answer wins."""
        race = Race(run)
        try:
            winner, result = await first_answer(race, partial(self._ask, request), record_winner=lambda w: run.succeeded(
                w.choice, w.started, hedge=w.hedge, request_id=_request_id(w.task.result())))
        finally:
            await race.close()
        if run.step.validate is not None:
            result, flagged = result
            run.record.validation += flagged
        run.record.usage = usage_of(result)
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
        attempt: Awaitable[Any] = _answer(self.providers[choice.provider], request, choice.provider, budget)
        if race.run.step.validate is not None:  # each racer checks its own answer
            attempt = screened(race.run, choice.provider, attempt, answer_text, self.observer)
        race.start(choice, attempt, hedge=hedge)

    async def stream(self, step: StepConf, body: dict[str, Any], record_out: list[DecisionRecord] | None = None, *,
                     native: Native | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run a streaming request for `step`, yielding chunk dicts. The decision record is
        appended to `record_out` at once and filled in as attempts happen."""
        step, ineligible = self.fit.narrow(step, native)
        request = ChatRequest({**body, "stream": True}, native)
        run = StepRun(self.state, step, kind="ttft", request=request)
        note_dialect(run.record, native, ineligible)
        if record_out is not None:
            record_out.append(run.record)
        try:
            # aclosing: a caller who stops reading closes the inner generators at once (releasing
            # the attempt and the upstream), not whenever the garbage collector gets to them.
            async with aclosing(self._stream(run, request)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except CrosswalkError as error:
            self._done(run, error)
            raise
        except (GeneratorExit, asyncio.CancelledError):  # the caller stopped reading or went away: what was done still counts
            run.cancelled()
            self._done(run, None)
            raise
        self._done(run, None)

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
            validated = run.step.validate is not None
            try:
                # Before the commit point: nothing has reached the caller, so fail over freely.
                held = await _to_commit(run, upstream, choice.provider, started + timeouts.ttft_s, hold=_hold(run))
                if validated:
                    run.record.validation += screen(run, choice.provider, stream_text(held), self.observer)
            except ProviderError as error:
                run.failed(choice, error, started)
                await _close(upstream)
                continue
            except BaseException:
                run.abandoned(choice, started)
                await _close(upstream)
                raise
            run.committed(choice, started, request_id=_first_request_id(held))
            self.fit.note_served(run.record, run.request, choice.provider)  # before the headers leave
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
        if run.step.validate is not None:
            held, flagged = held
            run.record.validation += flagged
        assert winner.upstream is not None
        run.committed(winner.choice, winner.started, request_id=_first_request_id(held))
        self.fit.note_served(run.record, run.request, winner.choice.provider)
        async with aclosing(self._after_commit(run, winner.choice, winner.upstream, held, winner.started, hedge=winner.hedge)) as chunks:
            async for chunk in chunks:
                yield chunk

    def _open(self, request: ChatRequest, race: Race, choice: Choice, hedge: bool) -> None:
        run = race.run
        upstream = self.providers[choice.provider].stream(request)
        ttft_deadline = run.clock.now() + run.step.timeouts.ttft_s
        validated = run.step.validate is not None
        attempt: Awaitable[Any] = _to_commit(run, upstream, choice.provider, ttft_deadline, hold=_hold(run))
        if validated:
            attempt = screened(run, choice.provider, attempt, stream_text, self.observer)
        race.start(choice, attempt, hedge=hedge, upstream=upstream)

    async def _after_commit(self, run: StepRun, choice: Choice, upstream: AsyncIterator[dict[str, Any]], held: list[dict[str, Any]], started: float, *, hedge: bool = False) -> AsyncIterator[dict[str, Any]]:
        name = choice.provider
        idle = run.step.timeouts.idle_s
        sent = held  # what the caller received: a broken stream is resumed from it
        deliver = sent.append
        watch = IdleWatch()
        try:
            if self.observer is not None:
                self.observer.first_token(run.step.name, run.clock.now() - run.started)
            for chunk in held:
                self._name_model(chunk, name)
                if "usage" in chunk:
                    run.record.usage = usage_of(chunk)
                yield chunk
            while True:
                wait = min(idle, run.remaining())
                try:
                    chunk = await _next_chunk(upstream, wait, name, "idle", watch)
                except StopAsyncIteration:
                    break
                self._name_model(chunk, name)
                if "usage" in chunk:  # the last chunk, when the caller asked for include_usage
                    run.record.usage = usage_of(chunk)
                deliver(chunk)
                yield chunk
        except ProviderError as error:
            broke = error
        except BaseException:
            run.abandoned(choice, started)
            raise
        else:
            run.succeeded(choice, started, hedge=hedge)
            return
        finally:
            watch.close()
            await _close(upstream)
        cls = run.failed(choice, broke, started, hedge=hedge)
        if run.remaining() <= 0:
            raise DeadlineExceeded(
                f"step '{run.step.name}': deadline of {run.step.timeouts.total_s:g}s exceeded mid-stream from {name}; the answer is incomplete",
                step=run.step.name, attempts=run.record.attempts,
            ) from None
        resumer = Resumer(run, self.providers, run.request or ChatRequest({}), _READERS, name_model=self._name_model,
                          refusals=self.prefill_refusals)
        async with aclosing(resumer.resume(sent, choice, broke, cls)) as rest:
            async for chunk in rest:
                yield chunk


async def first_success(run: StepRun, ask: Callable[[Choice], Awaitable[dict[str, Any]]], *,
                        check: Callable[[Choice, dict[str, Any]], None] | None = None,
                        what: str = "no answer") -> tuple[Choice, dict[str, Any]]:
    """Walk `run`'s providers until one answers: `ask(choice)` under min(per-try timeout,
    time left), then `check(choice, answer)` (raising a ProviderError fails that attempt
    over). Any other exception from an adapter is a failed attempt on that provider, never
    a leaked half-open slot. Records the success with the vendor's request id; returns the
    choice that answered and its answer. `what`: a timeout's words ("no answer ...")."""
    per_try = run.step.timeouts.per_try_s
    while True:
        choice = await run.next()
        started = run.clock.now()
        budget = min(per_try, run.remaining())
        try:
            result = await _within(ask(choice), budget)
            if check is not None:
                check(choice, result)
        except TimeoutError:
            run.failed(choice, _timeout(choice.provider, "total", budget, what=what), started)
            continue
        except ProviderError as error:
            run.failed(choice, error, started)
            continue
        except asyncio.CancelledError:
            run.abandoned(choice, started)
            raise
        except Exception as exc:  # an adapter bug: a failed attempt, never a leaked probe slot
            run.failed(choice, _adapter_error(choice.provider, exc), started)
            continue
        except BaseException:
            run.abandoned(choice, started)
            raise
        run.succeeded(choice, started, request_id=result.pop(REQUEST_ID, None))
        return choice, result


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


def _request_id(result: Any) -> str | None:
    """The vendor's request id off a racer's answer (a validated racer's is (answer, flagged))."""
    answer = result[0] if isinstance(result, tuple) else result
    return answer.pop(REQUEST_ID, None)


def _first_request_id(held: list[dict[str, Any]]) -> str | None:
    """The vendor's request id off a stream's first chunk (taken out: it is not the caller's)."""
    return held[0].pop(REQUEST_ID, None) if held else None


def _hold(run: StepRun) -> float:
    """Committing chunks to read before the commit point: validators judge a whole answer,
    so a validated step commits only at the end of the stream; else the step's `stream.hold`."""
    return math.inf if run.step.validate is not None else run.step.stream.hold_chunks


async def _to_commit(run: StepRun, upstream: AsyncIterator[dict[str, Any]], provider: str, ttft_deadline: float, *,
                     hold: float = 1) -> list[dict[str, Any]]:
    """Read a stream up to its commit point (or its clean end, with nothing to say: then
    what there is gets delivered), within the TTFT and step deadlines. `hold`: how many
    committing chunks to read first; `math.inf` commits only at the end of the stream
    (later chunks within the idle timeout each)."""
    held: list[dict[str, Any]] = []
    commits = 0
    try:
        while commits < hold:
            if commits:
                wait, phase = min(run.step.timeouts.idle_s, run.remaining()), "idle"
            else:
                wait, phase = min(ttft_deadline, run.deadline) - run.clock.now(), "first_token"
            chunk = await _next_chunk(upstream, wait, provider, phase)
            held.append(chunk)
            if chunk_commits(chunk):
                commits += 1
    except StopAsyncIteration:
        pass
    return held


async def _next_chunk(upstream: AsyncIterator[dict[str, Any]], wait: float, provider: str, phase: str,
                      watch: IdleWatch | None = None) -> dict[str, Any]:
    """The stream's next chunk within `wait` seconds; `watch`: a committed stream's one timer
    (router/idle_watch.py), else a timer for this wait alone."""
    if wait <= 0:
        raise _timeout(provider, phase, 0.0)
    try:
        if watch is not None:
            return await watch.next(upstream, wait)
        return await _within(anext(upstream), wait)  # a bare timer: asyncio.timeout cost ~2 us a chunk
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


def _timeout(provider: str, phase: str, seconds: float, *, what: str = "no answer") -> ProviderTimeout:
    what = {"total": what, "first_token": "no first token", "idle": "stream idle"}[phase]
    limit = f"within {seconds:.3g}s" if seconds > 0 else "before the step's time ran out"
    return ProviderTimeout(f"{provider}: {what} {limit}", provider=provider, phase=phase)


async def _close(upstream: AsyncIterator[dict[str, Any]]) -> None:
    aclose = getattr(upstream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing a broken stream may fail again; the failure is already recorded
            pass


_READERS = Readers(to_commit=_to_commit, next_chunk=_next_chunk, close=_close)
