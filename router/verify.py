"""Cross-model verification: ask an independent panel in parallel, compare, decide.

Each panel member runs the step's own failover and timeouts on a narrowed copy of the step
(its panel provider first, then a disjoint share of the spare providers). Members report
as they finish; once the quorum is decided the rest are cancelled, so latency is about
the quorum's slowest member, not the sum. A `lazy` panel starts only the fewest members
that could reach the quorum and the next ones only on disagreement or failure
(`Tally.more_to_ask`): fewer calls, a second round of latency when they split. Below
`sample: 1` verification runs in the
shadow: the caller gets the primary's answer at once and the panel's verdict goes to
metrics and to the (mutable) agreement record.

The verifier wraps a failover chain (router/chain.py), the way pydantic-ai's FallbackModel
wraps models: it is given the chain to call (the `Chain` protocol, never the chain's
module) and where to report; the runtime decides which steps it serves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Protocol

from crosswalk.policies.agreement import Decision, Tally, pick_diverse
from crosswalk.policies.config import ProviderConf, StepConf
from crosswalk.policies.schema import VerifySpec
from crosswalk.providers.base import Provider
from crosswalk.router import logs, tracing
from crosswalk.router.background import cancel_and_wait
from crosswalk.router.clock import Clock
from crosswalk.router.errors import AllProvidersFailed, CrosswalkError, NoEligibleProvider, VerificationFailed, attempts_text
from crosswalk.router.records import AgreementRecord, Attempt, DecisionRecord, Vote

if TYPE_CHECKING:
    from crosswalk.router.compare import Comparator, Verdict

log = logging.getLogger("crosswalk")


class Chain(Protocol):
    """What the verifier calls: a failover chain over `providers` (a judge or embedding
    comparator calls them too) that runs one step config and says who may serve it."""

    providers: Mapping[str, Provider]

    async def complete(self, step: StepConf, body: dict[str, Any], *, observe: bool = True,
                       record_out: list[DecisionRecord] | None = None) -> tuple[dict[str, Any], DecisionRecord]: ...

    def candidates(self, step: StepConf) -> list[ProviderConf]: ...


class Observer(Protocol):
    """Told of every verified request and every verdict (metrics); cheap, never raises."""

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None: ...

    def agreement(self, step: str, comparator: str, decision: str, mode: str) -> None: ...

    def verification_spend(self, step: str, agreement: AgreementRecord) -> None: ...

    def attempts_done(self, step: str, attempts: list[Attempt]) -> None: ...


class _Panel:
    """Answers gathered so far, grouped by the comparator."""

    def __init__(self, comparator: "Comparator", quorum: int, *, stop_on_disagreement: bool) -> None:
        self.comparator = comparator
        self.quorum = quorum
        self.stop_on_disagreement = stop_on_disagreement
        self.answers: list[tuple[int, str, str, dict[str, Any]]] = []  # (rank, provider, text, result)
        self.verdicts: dict[int, tuple[str, "Verdict"]] = {}  # answer index -> (compared with, why it joined or not)
        self.groups: list[list[int]] = []  # indices into answers
        self.records: list[DecisionRecord] = []
        self.failed: list[str] = []
        self.escalated: list[str] = []

    async def add(self, rank: int, provider: str, result: dict[str, Any]) -> None:
        from crosswalk.router.compare import answer_text

        text = answer_text(result)
        index = len(self.answers)
        self.answers.append((rank, provider, text, result))
        from crosswalk.router.compare import explain

        for group in self.groups:
            first = self.answers[group[0]]
            same = await self.comparator.same(first[2], text)
            verdict = explain(self.comparator, first[2], text)
            if verdict is not None and (same or index not in self.verdicts):  # a split shows the first comparison
                self.verdicts[index] = (first[1], verdict)
            if same:
                group.append(index)
                return
        self.groups.append([index])

    def tally(self, pending: int) -> Tally:
        return Tally(tuple(len(g) for g in self.groups), pending, self.quorum)

    def majority(self) -> list[int]:
        """The largest group, best-ranked answer first; ties go to the group holding the
        best-ranked answer (arrival order never decides what the caller gets)."""
        group = min(self.groups, key=lambda g: (-len(g), min(self.answers[i][0] for i in g)))
        return sorted(group, key=lambda i: self.answers[i][0])


class Verifier:
    """Runs verified steps on a failover chain: the panel's members are narrowed copies
    of the step, each run by `chain`. `rng` draws the shadow sample."""

    def __init__(self, chain: Chain, *, clock: Clock, rng: random.Random, observer: Observer | None = None) -> None:
        self.chain = chain
        self.clock = clock
        self.rng = rng
        self.observer = observer
        self._shadow: set[asyncio.Task[None]] = set()

    async def complete(self, step: StepConf, body: dict[str, Any]) -> tuple[dict[str, Any], DecisionRecord]:
        """Verify inline (sample 1), in the shadow (a sampled fraction), or not at all."""
        spec = step.verify
        assert spec is not None
        if spec.sample < 1.0:
            primary = dataclasses.replace(step, verify=None)
            result, record = await self.chain.complete(primary, body)
            if self.rng.random() < spec.sample and record.provider:
                record.agreement = AgreementRecord(Decision.PENDING, 0.0, spec.compare, f"{spec.agree.min} of {spec.agree.of}", mode="shadow")
                task = asyncio.create_task(self._shadow_run(step, body, result, record))
                self._shadow.add(task)
                task.add_done_callback(self._shadow.discard)
            return result, record
        return await self._inline(step, body)

    async def _inline(self, step: StepConf, body: dict[str, Any]) -> tuple[dict[str, Any], DecisionRecord]:
        spec = step.verify
        assert spec is not None
        started = self.clock.now()
        members: list[DecisionRecord] = []  # the panel's records, kept when the caller goes away mid-panel
        try:
            panel = await self._ask_panel(step, body, spec, primary=None, records=members)
        except asyncio.CancelledError:  # the caller went away: the members' calls were made all the same
            gone = DecisionRecord(step=step.name, attempts=[a for r in members for a in r.attempts], members=members,
                                  latency_s=self.clock.now() - started, cancelled=True)
            self._observe(step, spec, gone, None)
            raise
        record = self._record(step, spec, panel, started, mode="inline")
        error: CrosswalkError | None = None
        if not panel.answers:
            error = AllProvidersFailed(
                f"step '{step.name}': no panel member answered: {attempts_text(record.attempts)}",
                step=step.name, attempts=record.attempts,
            ) if record.attempts else NoEligibleProvider(f"step '{step.name}': no eligible provider to verify with", step=step.name)
        elif record.agreement is not None and record.agreement.decision == Decision.DISAGREED and spec.on_disagree == "fail":
            error = VerificationFailed(
                f"step '{step.name}': the panel disagreed ({record.agreement.header()})", step=step.name, record=record,
            )
        self._observe(step, spec, record, error)
        if error is not None:
            raise error
        answer = dict(panel.answers[panel.majority()[0]][3])
        if record.agreement is not None and record.agreement.usage:
            # What the request cost: every member's answer and the judge's calls. The
            # answering member's own usage stays in agreement.answer_usage.
            answer["usage"] = dict(record.agreement.usage)
        return answer, record

    async def _ask_panel(self, step: StepConf, body: dict[str, Any], spec: VerifySpec,
                         primary: tuple[str, dict[str, Any]] | None, records: list[DecisionRecord] | None = None) -> _Panel:
        """Ask the panel; every member's record (answered, failed or cancelled) lands in
        `records` (the panel's own list unless given) as it ends."""
        from crosswalk.router.compare import comparator_for  # comparators load on the first verified request

        comparator = comparator_for(spec, self.chain.providers, body)
        panel = _Panel(comparator, spec.agree.min, stop_on_disagreement=spec.on_disagree == "fail")
        if records is not None:
            panel.records = records
        eligible = self.chain.candidates(step)
        members = pick_diverse(eligible, spec.agree.of, spec.diverse)
        if primary is not None:  # shadow: the primary already answered; ask the others
            members = [m for m in members if m.name != primary[0]][: spec.agree.of - 1]
            await panel.add(0, primary[0], primary[1])
        spares = [c.name for c in eligible if c not in members and (primary is None or c.name != primary[0])]
        k = max(1, len(members))
        asks = [(partial(self._member, step, body, (m.name, *spares[i::k]), panel.records), i + 1) for i, m in enumerate(members)]
        if spec.lazy:  # members start as the tally needs them (Tally.more_to_ask)
            await self._collect(panel, {}, reserve=asks)
        else:
            await self._collect(panel, {asyncio.create_task(ask()): rank for ask, rank in asks})
        if spec.on_disagree == "escalate" and panel.tally(0).final() is not Decision.AGREED:
            used = {a.provider for r in panel.records for a in r.attempts} | {a[1] for a in panel.answers}
            extra = [c.name for c in eligible if c.name not in used][: spec.escalate_max]
            if not extra and spec.judge and spec.judge not in used:
                extra = [spec.judge]
            tasks = {asyncio.create_task(self._member(step, body, (name,), panel.records)): 100 + i for i, name in enumerate(extra)}
            panel.escalated = extra
            await self._collect(panel, tasks)
        return panel

    async def _member(self, step: StepConf, body: dict[str, Any], chain: tuple[str, ...],
                      cancelled: list[DecisionRecord]) -> tuple[dict[str, Any] | None, DecisionRecord]:
        """One panel member's run; a member cancelled (the quorum was decided without it, or
        the caller went away) puts its record, with its cancelled call, in `cancelled`."""
        sub = dataclasses.replace(step, providers=chain, verify=None, max_attempts=min(step.max_attempts, max(1, len(chain) + 1)))
        with tracing.member_span(step.name, chain[0]) as span:  # this task's own: its attempts are the span's children
            out: list[DecisionRecord] = []
            try:
                result, record = await self.chain.complete(sub, body, observe=False, record_out=out)
            except asyncio.CancelledError:
                cancelled.extend(r for r in out if r.attempts)  # cancelled before any call: nothing to count
                raise
            except CrosswalkError as err:  # a failed member; answers that broke validators say which rules
                validation = list(err.record.validation) if isinstance(err.record, DecisionRecord) else []
                record = DecisionRecord(step=step.name, attempts=list(err.attempts), validation=validation)
                span.done(record, answered=False)
                return None, record
            span.done(record, answered=True)
            return result, record

    async def _collect(self, panel: _Panel, tasks: dict[asyncio.Task[Any], int],
                       reserve: list[tuple[Callable[[], Awaitable[Any]], int]] | None = None) -> None:
        """Gather members' answers until the quorum is decided. `reserve`: a lazy panel's
        members not yet asked, started only as many as the tally needs."""
        pending = set(tasks)
        waiting = list(reserve or ())
        try:
            while True:
                for ask, rank in waiting[: panel.tally(len(pending)).more_to_ask(len(waiting))]:
                    task = asyncio.create_task(ask())
                    tasks[task] = rank
                    pending.add(task)
                    waiting.remove((ask, rank))
                if not pending:
                    break
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    result, record = task.result()
                    panel.records.append(record)
                    if result is None:
                        panel.failed.append(record.attempts[0].provider if record.attempts else "?")
                    else:
                        await panel.add(tasks[task], record.provider or "?", result)
                decided = panel.tally(len(pending) + len(waiting)).decided()
                # Agreement ends the wait at once. A settled disagreement does too when the step
                # fails on it; for flag and escalate the rest still decide the majority answer.
                if decided is Decision.AGREED or (decided is not None and panel.stop_on_disagreement):
                    break
        finally:
            await cancel_and_wait(*pending)  # the quorum is decided (or we were cancelled): stop the rest
            for task in pending:  # one that ended before it could be cancelled still made its calls
                if not task.cancelled() and task.exception() is None:
                    panel.records.append(task.result()[1])

    def _record(self, step: StepConf, spec: VerifySpec, panel: _Panel, started: float, *, mode: str) -> DecisionRecord:
        attempts: list[Attempt] = [a for r in panel.records for a in r.attempts]
        record = DecisionRecord(step=step.name, attempts=attempts, latency_s=self.clock.now() - started, members=panel.records,
                                validation=[v for r in panel.records for v in r.validation])
        if not panel.answers:
            return record
        tally = panel.tally(0)
        winners = panel.majority()
        rep = panel.answers[winners[0]]
        votes = [_vote(panel, i) for i in range(len(panel.answers))]
        from crosswalk.router.compare import add_usage

        usage: dict[str, int] = {}
        member_usage: dict[str, int] = {}
        for rank, _, _, result in panel.answers:
            add_usage(usage, result)
            if rank != 0:  # rank 0: a shadow check's primary, which answered the request itself
                add_usage(member_usage, result)
        judge_usage = dict(getattr(panel.comparator, "usage", {}))  # a judge's calls
        for key, value in judge_usage.items():
            usage[key] = usage.get(key, 0) + value
        answer_usage: dict[str, int] = {}
        add_usage(answer_usage, rep[3])
        dissent = [i for i in range(len(votes)) if i not in winners]
        _place_on_dissenters(votes, dissent, winners)
        record.provider = rep[1]
        record.agreement = AgreementRecord(
            decision=tally.final(), score=tally.score(), comparator=spec.compare,
            quorum=f"{spec.agree.min} of {spec.agree.of}",
            agreeing=[votes[i] for i in winners], dissenting=[votes[i] for i in dissent],
            failed=panel.failed, escalated=list(panel.escalated),
            differences=panel.comparator.differences(rep[2], panel.answers[dissent[0]][2]) if dissent else [],
            usage=usage, answer_usage=answer_usage, mode=mode, reason=_reason(votes, dissent, winners),
            judge_usage=judge_usage, member_usage=member_usage, asked=len(panel.records),
        )
        return record

    async def _shadow_run(self, step: StepConf, body: dict[str, Any], result: dict[str, Any], record: DecisionRecord) -> None:
        spec = step.verify
        assert spec is not None and record.provider is not None
        try:
            panel = await self._ask_panel(step, body, spec, primary=(record.provider, result))
        except Exception:  # a shadow check must never hurt the request it shadows
            log.exception("crosswalk: shadow verification of step %s failed", step.name)
            return
        if self.observer is not None:  # the shadow panel's calls belong to no request of their own
            self.observer.attempts_done(step.name, [a for r in panel.records for a in r.attempts])
        verdict = self._record(step, spec, panel, self.clock.now(), mode="shadow").agreement
        if verdict is not None and record.agreement is not None:
            for f in dataclasses.fields(verdict):
                setattr(record.agreement, f.name, getattr(verdict, f.name))
            self._observe(step, spec, record, None, whole_request=False)

    def _observe(self, step: StepConf, spec: VerifySpec, record: DecisionRecord, error: CrosswalkError | None,
                 *, whole_request: bool = True) -> None:
        observer = self.observer
        agreement = record.agreement
        if whole_request:
            logs.decision(record, error)  # the agreement is in the decision line
            if observer is not None:
                observer.request_done(record, error)
        if agreement is not None:
            if not whole_request:  # a shadow verdict, after the request's own line
                log.info("crosswalk verification step=%s %s", step.name, agreement.header())
            if observer is not None:
                observer.agreement(step.name, spec.compare, agreement.decision, agreement.mode)
                observer.verification_spend(step.name, agreement)

    async def aclose(self) -> None:
        """Wait for shadow checks still running."""
        if self._shadow:
            await asyncio.gather(*self._shadow, return_exceptions=True)


def _vote(panel: _Panel, index: int) -> Vote:
    """A member's answer, with the similarity and reason of the comparison that placed it."""
    _, provider, text, _ = panel.answers[index]
    compared = panel.verdicts.get(index)
    if compared is None:
        return Vote(provider, text)
    against, verdict = compared
    return Vote(provider, text, similarity=verdict.similarity, reason=verdict.reason, against=against)


def _place_on_dissenters(votes: list[Vote], dissent: list[int], winners: list[int]) -> None:
    """A comparison that split an agreeing member from a dissenter is the dissenter's: which
    of the two was compared against the other depends only on who answered first, so a
    dissenter that answered first would otherwise carry no reason while an agreeing vote did."""
    for i in dissent:
        if votes[i].against is not None:
            continue
        for j in winners:
            if votes[j].against == votes[i].provider and votes[j].reason:
                votes[i] = dataclasses.replace(votes[i], similarity=votes[j].similarity, reason=votes[j].reason,
                                               against=votes[j].provider)
                votes[j] = dataclasses.replace(votes[j], similarity=None, reason="", against=None)
                break


def _reason(votes: list[Vote], dissent: list[int], winners: list[int]) -> str:
    """Why the panel split (the first dissenter's reason), else why it agreed."""
    for i in (*dissent, *winners):
        if votes[i].reason:
            return f"{votes[i].provider} vs {votes[i].against}: {votes[i].reason}"
    return ""


def synthetic_chunks(result: dict[str, Any], *, created: int) -> list[dict[str, Any]]:
    """A verified answer as stream chunks (verified steps answer once verification is
    done); `created` (Unix seconds) stands in when the answer carries none."""
    base = {"id": result.get("id", "chatcmpl-crosswalk"), "object": "chat.completion.chunk",
            "created": result.get("created", created), "model": result.get("model", "")}
    choice = (result.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
    return [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}],
         **({"usage": result["usage"]} if result.get("usage") else {})},
    ]
