"""Comparators as the verifier uses them: one async `same(a, b)` per kind. The pure ones
wrap `policies.normalize`, `policies.compare_numbers` and `policies.compare_json`; semantic
checks facts (`policies.facts`) and then asks an embeddings provider (or the in-process
`embeddings: local` model), judge asks a model (`policies.comparators`). Semantic and judge
keep each pair's `Verdict` (similarity, reason) for the agreement record."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from crosswalk.policies import comparators as cmp
from crosswalk.policies.compare_json import FieldRule, json_differences
from crosswalk.policies.compare_numbers import numeric_equal
from crosswalk.policies.facts import changed_phrase, fact_mismatch
from crosswalk.policies.grounding import Grounding, grounding_of
from crosswalk.policies.normalize import exact_equal, normalized_equal
from crosswalk.policies.schema import VerifySpec
from crosswalk.providers.base import ChatRequest, Embedder
from crosswalk.providers.errors import ProviderError
from crosswalk.router import tracing

log = logging.getLogger("crosswalk")


class Comparator(Protocol):
    """Decides whether two answers say the same thing."""

    name: str

    async def same(self, a: str, b: str) -> bool: ...

    def differences(self, a: str, b: str) -> list[str]: ...


def explain(comparator: Comparator, a: str, b: str) -> Verdict | None:
    """The similarity and reason behind `comparator.same(a, b)` (semantic, judge), else None."""
    explained = getattr(comparator, "explain", None)
    return explained(a, b) if explained is not None else None


class _Pure:
    def __init__(self, spec: VerifySpec) -> None:
        self.name = spec.compare
        self.spec = spec
        self._rules = {path: FieldRule(r.compare, r.tolerance, r.abs_tolerance) for path, r in spec.fields.items()}
        # JSON numbers without a field rule match exactly (ids, years) unless the step set a
        # tolerance; numeric's own 0.5 % default is for prose amounts.
        rel = spec.tolerance if "tolerance" in spec.model_fields_set else 0.0
        self._default = FieldRule("normalized", rel, spec.abs_tolerance)

    async def same(self, a: str, b: str) -> bool:
        kind = self.spec.compare
        if kind == "exact":
            return exact_equal(a, b)
        if kind == "normalized":
            return normalized_equal(a, b)
        if kind == "numeric":
            return numeric_equal(a, b, rel_tol=self.spec.tolerance, abs_tol=self.spec.abs_tolerance)
        return not self.differences(a, b)

    def differences(self, a: str, b: str) -> list[str]:
        if self.spec.compare == "json":
            return json_differences(a, b, fields=self._rules, ignore=self.spec.ignore, default=self._default)
        return []


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a comparator called two answers the same or not: `similarity` is the cosine
    (semantic) when one was computed, `reason` the deciding fact, threshold or judge's word."""

    same: bool
    similarity: float | None
    reason: str
    by_fact: bool = False  # a fact check decided (the similarity did not)


class _Semantic:
    """Facts first (`policies.facts`: numbers, dates, negation, antonyms, names, roles): a
    fact that differs decides "different". Else cosine of embeddings >= threshold. Vectors
    are cached per text; each pair's verdict is kept for the record (`explain`)."""

    name = "semantic"

    def __init__(self, spec: VerifySpec, embedder: Embedder) -> None:
        self.threshold = spec.threshold
        self.check_facts = spec.facts
        self.word_threshold = spec.word_threshold
        self.embedder = embedder
        self._cache: dict[str, list[float]] = {}
        self._verdicts: dict[tuple[str, str], Verdict] = {}

    async def _vector(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = (await self.embedder.embed([text]))[0]
        return self._cache[text]

    async def same(self, a: str, b: str) -> bool:
        verdict = await self.verdict(a, b)
        return verdict.same

    async def verdict(self, a: str, b: str) -> Verdict:
        """The comparison with its similarity and deciding reason."""
        mismatch = fact_mismatch(a, b) if self.check_facts else None
        try:
            score = cmp.cosine(await self._vector(a), await self._vector(b))
        except ProviderError as exc:
            log.warning("crosswalk: embeddings for the semantic comparator failed: %s", exc.evidence())
            verdict = Verdict(False, None, mismatch or f"embeddings failed: {exc.evidence()[:120]}", by_fact=bool(mismatch))  # never invent agreement
        else:
            if not mismatch and self.check_facts:
                mismatch = await self._changed_phrase(a, b)
            if mismatch:
                verdict = Verdict(False, score, mismatch, by_fact=True)
            elif math.isnan(score):
                verdict = Verdict(False, None, "the embeddings hold a value that is not a number")
            elif score >= self.threshold:
                verdict = Verdict(True, score, f"similarity {score:.3f} >= threshold {self.threshold}")
            else:
                verdict = Verdict(False, score, f"similarity {score:.3f} < threshold {self.threshold}")
        self._verdicts[(a, b)] = verdict
        return verdict

    async def _changed_phrase(self, a: str, b: str) -> str | None:
        """Answers that share a frame and differ in one word or one phrase differ in a fact
        unless the two mean nearly the same ("rail" vs "air": 0.4; "closes" vs "shuts": 0.6;
        "an expired certificate" vs "a misconfigured load balancer": 0.06): the whole
        answers' cosine sees the shared frame and scores such pairs 0.75-0.95."""
        pair = changed_phrase(a, b)
        if pair is None:
            return None
        similar = cmp.cosine(await self._vector(pair[0]), await self._vector(pair[1]))
        if similar < self.word_threshold:
            what = "one word" if " " not in pair[0] + pair[1] else "one phrase"
            return f"{what} changed: '{pair[0]}' vs '{pair[1]}' (similarity {similar:.2f} < {self.word_threshold})"
        return None

    def explain(self, a: str, b: str) -> Verdict | None:
        """The verdict `same(a, b)` reached, if it was asked."""
        return self._verdicts.get((a, b))

    def differences(self, a: str, b: str) -> list[str]:
        verdict = self._verdicts.get((a, b)) or self._verdicts.get((b, a))
        return [verdict.reason] if verdict is not None and not verdict.same else []


class _Judge:
    """A model compares two answers under a strict prompt that shows it what they should rest
    on (`policies.grounding`); `mode: grounded` also asks whether every claim traces to a
    line of that context. Unparseable verdicts count as 'different' (agreement must be
    shown, not assumed); the judge's reason is kept for the record (`explain`)."""

    name = "judge"

    def __init__(self, judge: Any, grounding: Grounding, *, mode: str = "same") -> None:
        self.judge = judge
        self.grounding = grounding
        self.mode = mode
        self._verdicts: dict[tuple[str, str], Verdict] = {}
        self.usage: dict[str, int] = {}  # what the judge's calls spent (the panel's bill includes it)

    async def same(self, a: str, b: str) -> bool:
        g = self.grounding
        messages = cmp.judge_messages(g.question, a, b, context=g.context, mode=self.mode, cut_chars=g.cut_chars)
        with tracing.judge_span(getattr(self.judge, "name", "judge")) as span:
            try:
                result = await self.judge.complete(ChatRequest({"messages": messages, "temperature": 0}))
            except ProviderError as exc:
                log.warning("crosswalk: judge call failed: %s", exc.evidence())
                tracing.judged(span, None, error=type(exc).__name__)
                self._verdicts[(a, b)] = Verdict(False, None, f"the judge failed: {exc.evidence()[:120]}")
                return False
            add_usage(self.usage, result)
            reply = answer_text(result)
            verdict = cmp.parse_judge_verdict(reply)
            tracing.judged(span, verdict)
        reason = cmp.parse_judge_reason(reply) or ("the judge's reply could not be read" if verdict is None else "")
        self._verdicts[(a, b)] = Verdict(verdict is True, None, reason)
        return verdict is True

    def explain(self, a: str, b: str) -> Verdict | None:
        """The judge's verdict and reason for `same(a, b)`, if it was asked."""
        return self._verdicts.get((a, b))

    def differences(self, a: str, b: str) -> list[str]:
        verdict = self._verdicts.get((a, b)) or self._verdicts.get((b, a))
        return [verdict.reason] if verdict is not None and not verdict.same and verdict.reason else []


def comparator_for(spec: VerifySpec, providers: Any, body: Mapping[str, Any]) -> Comparator:
    """The comparator a step's verify block asks for (one per request: caches are per
    request); `body` is the chat request, whose messages the judge is shown."""
    if spec.compare == "semantic":
        assert spec.embeddings is not None  # the schema requires it
        return _Semantic(spec, providers[spec.embeddings])
    if spec.compare == "judge":
        return _Judge(providers[spec.judge], grounding_of(body), mode=spec.judge_mode)
    return _Pure(spec)


def add_usage(total: dict[str, int], result: dict[str, Any]) -> None:
    """Add a completion's integer `usage` counts into `total`."""
    usage = result.get("usage") if isinstance(result, dict) else None
    for key, value in (usage or {}).items() if isinstance(usage, dict) else ():
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


def answer_text(result: dict[str, Any]) -> str:
    """The text to compare: the first choice's content, or its tool calls as JSON."""
    from crosswalk.providers.jsonwire import dumps

    try:
        message = result["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return ""
    content = message.get("content")
    if content:
        return content if isinstance(content, str) else dumps(content).decode()
    calls = message.get("tool_calls")
    return dumps(calls).decode() if calls else ""
