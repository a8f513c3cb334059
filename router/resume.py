"""Mid-stream recovery: a stream that broke after its commit point is finished on the next
eligible provider, so the caller receives one whole answer or a clean error naming the
real failure, never a truncated success.

Two ways to resume, chosen per fallback provider (`plan`):
- continue: ask the fallback to continue the text already delivered. A provider that
  accepts an assistant prefill (`prefill: true`) gets the partial answer as the last
  assistant message; one that does not gets it followed by a user message asking to go
  on (the step's `stream.continue_prompt`). A prefill the provider rejects anyway (a
  4xx) is retried once on it without the prefill; that rejection is never the caller's
  final error.
- restart: the fallback regenerates from the start (same model, temperature 0); its
  output is held until it has reproduced the delivered text (`PrefixSkipper`), then only
  the rest is streamed. A fallback that diverges ends the stream with an in-band error
  saying the answer could not be resumed.

A stream that broke inside a tool call or a structured (JSON) output is never continued
as prose: it ends with a clean error (before the commit point it would have failed over).

The chain (router/chain.py) calls `Resumer.resume` from its post-commit loop; the readers
it needs (`to_commit`, `next_chunk`, `close`) are passed in, so this module does not
import the chain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from crosswalk.policies.config import ProviderConf
from crosswalk.policies.selection import Choice
from crosswalk.providers.base import REQUEST_ID, ChatRequest, Provider, chunk_finishes, stream_text
from crosswalk.providers.classify import FailureClass
from crosswalk.providers.errors import ProviderError, ProviderTimeout, StreamBroken
from crosswalk.router.attempts import StepRun
from crosswalk.router.errors import CrosswalkError, StreamInterrupted
from crosswalk.router.records import Attempt, DecisionRecord, Recovery

Chunk = dict[str, Any]
ToCommit = Callable[[StepRun, AsyncIterator[Chunk], str, float], Awaitable[list[Chunk]]]
NextChunk = Callable[[AsyncIterator[Chunk], float, str, str], Awaitable[Chunk]]
Close = Callable[[AsyncIterator[Chunk]], Awaitable[None]]


def break_kind(error: ProviderError) -> str:
    """How a stream broke, in the record's words: cut, stall, malformed, error_event,
    missing_terminator, adapter, or the error's type."""
    if isinstance(error, ProviderTimeout):
        return "stall" if error.phase == "idle" else error.phase
    if isinstance(error, StreamBroken):
        return error.reason
    return type(error).__name__


def not_prose(chunks: list[Chunk], body: Mapping[str, Any]) -> str | None:
    """Why the delivered answer must not be continued as prose (None: it may be): it holds
    a tool call, or the request asked for structured (JSON) output, or several choices."""
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("function_call"):
                return "it broke inside a tool call, which is never stitched from two providers"
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return "it broke inside a structured (JSON) output, which is never stitched from two providers"
    if isinstance(body.get("n"), int) and body["n"] > 1:
        return "it has several choices (n > 1), which cannot be resumed together"
    return None


def plan(mode: str, broken: ProviderConf, fallback: ProviderConf, body: Mapping[str, Any]) -> str:
    """The way to resume on `fallback`: restart, continue-prefill or continue-user. `auto`
    restarts only where the fallback should reproduce the delivered text (the same model,
    temperature 0), and otherwise continues."""
    deterministic = body.get("temperature") == 0
    if mode == "restart" or (mode == "auto" and deterministic and fallback.model == broken.model):
        return "restart"
    return "continue-prefill" if fallback.prefill else "continue-user"


def continuation_body(body: Mapping[str, Any], partial: str, *, prefill: bool, prompt: str) -> dict[str, Any]:
    """The caller's request, asking to continue `partial`: as an assistant prefill, or
    followed by a user message carrying `prompt` (for providers that reject a prefill)."""
    messages = [*body.get("messages", ()), {"role": "assistant", "content": partial}]
    if not prefill:
        messages.append({"role": "user", "content": prompt})
    return {**body, "messages": messages}


def recovery_event(record: DecisionRecord) -> Chunk:
    """The last stream event before [DONE] of a resumed stream: a chunk with no choices (as
    a usage chunk is; OpenAI clients pass it through) whose `crosswalk.recovery` says which
    provider broke, how, how the answer was resumed and who finished it."""
    assert record.recovery is not None
    return {"id": "crosswalk-recovery", "object": "chat.completion.chunk", "created": 0, "model": record.provider or "",
            "choices": [], "crosswalk": {"step": record.step, "recovery": asdict(record.recovery)}}


class Diverged(Exception):
    """A restarted answer differs from the text already delivered."""


class PrefixSkipper:
    """Holds a restarted stream's output until it has reproduced `prefix`, then passes the
    rest. `feed` returns the chunks to deliver for one upstream chunk (often none)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.pos = 0

    @property
    def done(self) -> bool:
        """The whole delivered prefix has been reproduced."""
        return self.pos >= len(self.prefix)

    def feed(self, chunk: Chunk) -> list[Chunk]:
        if self.done:
            return [chunk]
        choices = chunk.get("choices") or ()
        if not choices:
            return []  # usage or keep-alive chunks before the rest: nothing the caller lacks
        delta = choices[0].get("delta") or {}
        if delta.get("tool_calls") or delta.get("function_call"):
            raise Diverged(f"it answered with a tool call after {self.pos} of {len(self.prefix)} characters")
        content = delta.get("content") or ""
        want = self.prefix[self.pos:self.pos + len(content)]
        if content[:len(want)] != want:
            at = self.pos + next(i for i, (a, b) in enumerate(zip(content, want)) if a != b)
            raise Diverged(f"its answer differs from the delivered text at character {at}")
        self.pos += len(want)
        rest = content[len(want):]
        if self.done and (rest or choices[0].get("finish_reason")):
            return [_with_content(chunk, rest)]
        if chunk_finishes(chunk):
            raise Diverged(f"its answer ended after {self.pos} of the {len(self.prefix)} characters already delivered")
        return []


def _with_content(chunk: Chunk, content: str) -> Chunk:
    choice = dict(chunk["choices"][0])
    choice["delta"] = {**(choice.get("delta") or {}), "content": content}
    return {**chunk, "choices": [choice, *chunk["choices"][1:]]}


def continued(chunk: Chunk) -> Chunk | None:
    """A continuation's chunk as part of the answer already under way: its opening role
    chunk is dropped (the caller had one), a role in a content chunk is removed."""
    choices = chunk.get("choices") or ()
    if not choices:
        return chunk
    delta = choices[0].get("delta") or {}
    if "role" not in delta:
        return chunk
    if not delta.get("content") and not choices[0].get("finish_reason") and len(delta) <= 3:
        return None
    choice = {**choices[0], "delta": {k: v for k, v in delta.items() if k != "role"}}
    return {**chunk, "choices": [choice, *choices[1:]]}


@dataclass
class Readers:
    """The chain's stream readers, passed in (the chain imports this module)."""

    to_commit: ToCommit
    next_chunk: NextChunk
    close: Close


class Resumer:
    """Finishes one broken stream on the step's next providers."""

    def __init__(self, run: StepRun, providers: Mapping[str, Provider], request: ChatRequest, readers: Readers,
                 *, name_model: Callable[[Chunk, str], None]) -> None:
        """`name_model(chunk, provider)` sets a delivered chunk's `model` as the chain does."""
        self.run = run
        self.name_model = name_model
        self.providers = providers
        self.request = request
        self.readers = readers
        self.confs = run.state.config.providers

    async def resume(self, sent: list[Chunk], broken: Choice, error: ProviderError, cls: FailureClass) -> AsyncIterator[Chunk]:
        """Yield the rest of the answer whose delivered chunks are `sent` (appended to as
        more is delivered), or raise `StreamInterrupted` naming the first break."""
        run, mode = self.run, self.run.step.stream.resume
        text = stream_text(sent)
        rec = Recovery(broken=broken.provider, how=break_kind(error), failure_class=cls.value,
                       detail=error.evidence()[:200], delivered_chars=len(text))
        run.record.recovery = rec
        why_not = "resume is off for this step" if mode == "off" else not_prose(sent, self.request.body)
        if why_not is not None:
            rec.outcome = "not_resumable"
            raise self._interrupted(rec, f"it was not resumed: {why_not}")
        last = broken.provider
        while True:
            try:
                choice = await run.next()
            except CrosswalkError as final:
                rec.outcome = "failed"
                raise self._interrupted(rec, f"no provider could resume it: {final.message}") from None
            way = plan(mode, self.confs[last], self.confs[choice.provider], self.request.body)
            try:
                async for chunk in self._attempt(choice, way, text, rec):
                    sent.append(chunk)
                    yield chunk
            except _Broke as broke:
                text, last = stream_text(sent), choice.provider
                rec.mode = broke.way
                rec.tried.append(f"{choice.provider}: {broke.way} failed ({broke.cls}: {broke.error.message[:120]})")
                continue
            return

    async def _attempt(self, choice: Choice, way: str, text: str, rec: Recovery) -> AsyncIterator[Chunk]:
        """One resumption on `choice`; raises `_Broke` when it failed (having delivered more
        of the answer, or nothing)."""
        run, name = self.run, choice.provider
        body = self.request.body
        prompt = run.step.stream.continue_prompt
        while True:
            request = ChatRequest(body if way == "restart" else continuation_body(body, text, prefill=way == "continue-prefill", prompt=prompt))
            started = run.clock.now()
            upstream = self.providers[name].stream(request)
            try:
                held = await self.readers.to_commit(run, upstream, name, started + run.step.timeouts.ttft_s)
            except ProviderError as error:
                await self.readers.close(upstream)
                if way == "continue-prefill" and _request_refused(error):
                    # Ours, not the caller's nor a sign of an outage: no verdict on its health.
                    cls = run.failed(choice, error, started, may_fail_over=False)
                    if self._may_ask_again(choice):
                        rec.tried.append(f"{name}: rejected the prefill (status {error.status}); continued without it")
                        way = "continue-user"
                        continue
                    run.set_aside(name)
                    raise _Broke(way, cls, error) from None
                raise _Broke(way, run.failed(choice, error, started), error) from None
            except BaseException:
                run.abandoned(choice, started)
                await self.readers.close(upstream)
                raise
            break
        async for chunk in self._deliver(choice, way, upstream, held, started, text, rec):
            yield chunk

    def _may_ask_again(self, choice: Choice) -> bool:
        """Whether the same provider may get one more attempt of this request now."""
        run = self.run
        return len(run.record.attempts) < run.step.max_attempts and run.remaining() > 0 and run.state.admit(choice.provider)

    async def _deliver(self, choice: Choice, way: str, upstream: AsyncIterator[Chunk], held: list[Chunk], started: float,
                       text: str, rec: Recovery) -> AsyncIterator[Chunk]:
        run, name, readers = self.run, choice.provider, self.readers
        skipper = PrefixSkipper(text) if way == "restart" else None
        idle = run.step.timeouts.idle_s
        run.committed(choice, started, request_id=held[0].pop(REQUEST_ID, None) if held else None)
        try:
            pending = iter(held)
            while True:
                chunk = next(pending, None)
                if chunk is None:
                    try:
                        chunk = await readers.next_chunk(upstream, min(idle, run.remaining()), name, "idle")
                    except StopAsyncIteration:
                        break
                out = skipper.feed(chunk) if skipper is not None else [c for c in (continued(chunk),) if c is not None]
                for piece in out:
                    self.name_model(piece, name)
                    yield piece
        except Diverged as diverged:
            raise self._diverged(choice, started, rec, str(diverged)) from None
        except ProviderError as error:
            cls = run.failed(choice, error, started)
            raise _Broke(way, cls, error) from None
        except BaseException:
            run.abandoned(choice, started)
            raise
        finally:
            await readers.close(upstream)
        if skipper is not None and not skipper.done:
            raise self._diverged(choice, started, rec, f"it ended after {skipper.pos} of the {len(text)} characters already delivered")
        run.succeeded(choice, started)
        rec.mode, rec.finished_by, rec.outcome = way, name, "resumed"

    def _diverged(self, choice: Choice, started: float, rec: Recovery, why: str) -> StreamInterrupted:
        """A restart that did not reproduce the delivered text: recorded (no verdict on the
        provider's health: it answered, just not this answer), and the stream ends."""
        run, name = self.run, choice.provider
        run.state.release(name)  # recorded below, as the stream it broke
        run.record.attempts.append(Attempt(name, FailureClass.STREAM_BROKEN, run.clock.now() - started, detail=f"restart diverged: {why}"))
        rec.mode, rec.outcome = "restart", "diverged"
        return self._interrupted(rec, f"the answer could not be resumed: a restart on {name} was not faithful ({why})")

    def _interrupted(self, rec: Recovery, why: str) -> StreamInterrupted:
        step = self.run.step.name
        error = StreamInterrupted(
            f"step '{step}': stream from {rec.broken} broke after {rec.delivered_chars} characters "
            f"({rec.how}, {rec.failure_class}: {rec.detail}); {why}; the answer is incomplete",
            step=step, attempts=self.run.record.attempts,
        )
        error.record = self.run.record
        return error


def _request_refused(error: ProviderError) -> bool:
    """A 4xx that refuses the request itself (not auth, quota or a rate limit)."""
    return error.status is not None and 400 <= error.status < 500 and error.status not in (401, 402, 403, 429)


class _Broke(Exception):
    """A resumption broke after it had delivered more: the next provider resumes it."""

    def __init__(self, way: str, cls: FailureClass, error: ProviderError) -> None:
        self.way, self.cls, self.error = way, cls, error
