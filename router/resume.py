"""Mid-stream recovery: a stream that broke after its commit point is finished on the next
eligible provider, so the caller receives one whole answer or a clean error naming the
real failure, never a truncated success.

Two ways to resume, chosen per fallback provider (`plan`):
- continue: ask the fallback to continue the text already delivered. A provider that
  accepts an assistant prefill (`prefill: true`) gets the partial answer as the last
  assistant message; one that does not gets it followed by a user message asking to go
  on (the step's `stream.continue_prompt`). A prefill the provider rejects anyway (a
  4xx) is retried once on it without the prefill; that rejection is never the caller's
  final error, and the provider gets no prefill for a while (`PrefillRefusals`, kept by
  the runtime).
- restart: the fallback regenerates from the start (same model, temperature 0).

Either way the fallback's output is held (`SeamHold`) until the seam rule
(policies/continuation.py) can tell what it is doing with the delivered text: it restarted
verbatim (the reproduced part is skipped: outcome `restarted`), repeated the delivered
tail before going on (the repeat is skipped: `trimmed`), or continued (`resumed`). A
restart in other words, a fresh reply, or no verdict within the bounded window ends the
stream with an in-band error naming the real break (`failed`); nothing of that output
reaches the caller. A restart request accepts only a verbatim restart.

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
from crosswalk.policies.prefill import PrefillRefusals
from crosswalk.policies.continuation import Seam, judge
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
    """The fallback's output cannot be stitched to the delivered text (policies/continuation.py)."""


class SeamHold:
    """Holds a fallback's output until `policies.continuation.judge` can tell what it is doing
    with the delivered text, then releases it minus what the caller already has. `feed`
    returns the chunks to deliver for one upstream chunk (none while holding); raises
    `Diverged` when the output cannot be trusted. Only a recovery pays for this: a stream
    that never breaks is never held here."""

    def __init__(self, delivered: str, *, restart_only: bool) -> None:
        self.delivered = delivered
        self.restart_only = restart_only
        self.held: list[Chunk] = []
        self.text = ""
        self.seam: Seam | None = None

    def feed(self, chunk: Chunk) -> list[Chunk]:
        if self.seam is not None:
            return [chunk]
        choices = chunk.get("choices") or ()
        delta = (choices[0].get("delta") or {}) if choices else {}
        if delta.get("tool_calls") or delta.get("function_call"):
            raise Diverged(f"it answered with a tool call after {len(self.text)} characters")
        self.held.append(chunk)
        self.text += delta.get("content") or ""
        return self._decide(ended=chunk_finishes(chunk))

    def end(self) -> list[Chunk]:
        """The fallback's stream ended: decide on what it said (nothing more to wait for)."""
        return [] if self.seam is not None else self._decide(ended=True)

    def _decide(self, *, ended: bool) -> list[Chunk]:
        seam = judge(self.delivered, self.text, ended=ended, restart_only=self.restart_only)
        if seam is None:
            return []
        if seam.outcome == "failed":
            raise Diverged(seam.why)
        self.seam = seam
        return _skipped(self.held, seam.skip)


def _skipped(chunks: list[Chunk], skip: int) -> list[Chunk]:
    """`chunks` without their first `skip` characters of content; a chunk left with nothing
    to say (no content, no finish reason) is dropped."""
    out = []
    for chunk in chunks:
        choices = chunk.get("choices") or ()
        content = (choices[0].get("delta") or {}).get("content") if choices else None
        if skip and content:
            cut = min(skip, len(content))
            skip -= cut
            if cut == len(content) and not choices[0].get("finish_reason"):
                continue
            chunk = _with_content(chunk, content[cut:])
        out.append(chunk)
    return out


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
                 *, name_model: Callable[[Chunk, str], None], refusals: PrefillRefusals) -> None:
        """`name_model(chunk, provider)` sets a delivered chunk's `model` as the chain does;
        `refusals`: the providers that rejected a prefill lately (kept by the runtime)."""
        self.run = run
        self.name_model = name_model
        self.providers = providers
        self.request = request
        self.readers = readers
        self.refusals = refusals
        self.confs = run.state.config.providers

    async def resume(self, sent: list[Chunk], broken: Choice, error: ProviderError, cls: FailureClass) -> AsyncIterator[Chunk]:
        """Yield the rest of the answer whose delivered chunks are `sent` (appended to as
        more is delivered), or raise `StreamInterrupted` naming the first break."""
        run, mode = self.run, self.run.step.stream.resume
        if any(chunk_finishes(c) for c in sent):
            return  # the model had said it was done: only [DONE] (or a usage chunk) was missing
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
            way = self._way(plan(mode, self.confs[last], self.confs[choice.provider], self.request.body), choice.provider, rec)
            try:
                async for chunk in self._attempt(choice, way, text, rec):
                    sent.append(chunk)
                    yield chunk
            except _Broke as broke:
                if broke.outcome is not None and any(chunk_finishes(c) for c in sent):
                    rec.mode, rec.finished_by, rec.outcome = broke.way, choice.provider, broke.outcome
                    return  # it broke after its finish reached the caller: the answer is whole
                text, last = stream_text(sent), choice.provider
                rec.mode = broke.way
                rec.tried.append(f"{choice.provider}: {broke.way} failed ({broke.cls}: {broke.error.message[:120]})")
                continue
            return

    def _way(self, way: str, name: str, rec: Recovery) -> str:
        """`way`, except no prefill to a provider that rejected one lately."""
        if way != "continue-prefill":
            return way
        since = self.refusals.refused_since(name, self.run.clock.now())
        if since is None:
            return way
        rec.tried.append(f"{name}: no prefill (it rejected one {since:.0f}s ago)")
        return "continue-user"

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
                    self.refusals.note(name, run.clock.now())
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
        """Stream the fallback's answer through a `SeamHold`: nothing of it reaches the
        caller until the seam with the delivered `text` is judged."""
        run, name, readers = self.run, choice.provider, self.readers
        hold = SeamHold(text, restart_only=way == "restart")
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
                for piece in hold.feed(chunk):
                    if (piece := continued(piece)) is not None:
                        self.name_model(piece, name)
                        yield piece
            for piece in hold.end():
                if (piece := continued(piece)) is not None:
                    self.name_model(piece, name)
                    yield piece
        except Diverged as diverged:
            raise self._diverged(choice, way, started, rec, str(diverged)) from None
        except ProviderError as error:
            cls = run.failed(choice, error, started)
            raise _Broke(way, cls, error, outcome=hold.seam.outcome if hold.seam else None) from None
        except BaseException:
            run.abandoned(choice, started)
            raise
        finally:
            await readers.close(upstream)
        run.succeeded(choice, started)
        assert hold.seam is not None
        rec.mode, rec.finished_by, rec.outcome = way, name, hold.seam.outcome

    def _diverged(self, choice: Choice, way: str, started: float, rec: Recovery, why: str) -> StreamInterrupted:
        """A fallback whose output could not be stitched to the delivered text: recorded
        (no verdict on the provider's health: it answered, just not this answer), and the
        stream ends; nothing of that output reached the caller."""
        run, name = self.run, choice.provider
        run.state.release(name)  # recorded below, as the stream it broke
        run.record.attempts.append(Attempt(name, FailureClass.STREAM_BROKEN, run.clock.now() - started, detail=f"{way} not trusted: {why}"))
        rec.mode, rec.outcome = way, "failed"
        rec.tried.append(f"{name}: {way} not trusted ({why})")
        return self._interrupted(rec, f"the answer could not be resumed: the {way} on {name} could not be trusted ({why})")

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
    """A resumption broke (having delivered more of the answer, or nothing): the next
    provider resumes it. `outcome`: its seam's verdict, when it had one."""

    def __init__(self, way: str, cls: FailureClass, error: ProviderError, *, outcome: str | None = None) -> None:
        self.way, self.cls, self.error, self.outcome = way, cls, error, outcome
