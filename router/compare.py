"""Comparators as the verifier uses them: one async `same(a, b)` per kind. The pure ones
wrap `policies.normalize`, `policies.compare_numbers` and `policies.compare_json`; semantic
asks an embeddings provider, judge asks a model (`policies.comparators`)."""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

from crosswalk.policies import comparators as cmp
from crosswalk.policies.compare_json import FieldRule, json_differences
from crosswalk.policies.compare_numbers import numeric_equal
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


class _Semantic:
    """Cosine similarity of embeddings >= threshold; vectors cached per text."""

    name = "semantic"

    def __init__(self, spec: VerifySpec, embedder: Embedder) -> None:
        self.threshold = spec.threshold
        self.embedder = embedder
        self._cache: dict[str, list[float]] = {}

    async def _vector(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = (await self.embedder.embed([text]))[0]
        return self._cache[text]

    async def same(self, a: str, b: str) -> bool:
        try:
            score = cmp.cosine(await self._vector(a), await self._vector(b))
        except ProviderError as exc:
            log.warning("crosswalk: embeddings for the semantic comparator failed: %s", exc.evidence())
            return False  # cannot show agreement; never invent it
        return not math.isnan(score) and score >= self.threshold

    def differences(self, a: str, b: str) -> list[str]:
        return []


class _Judge:
    """A model compares two answers under a strict prompt; unparseable verdicts count as
    'different' (agreement must be shown, not assumed)."""

    name = "judge"

    def __init__(self, judge: Any, question: str) -> None:
        self.judge = judge
        self.question = question
        self.usage: dict[str, int] = {}  # what the judge's calls spent (the panel's bill includes it)

    async def same(self, a: str, b: str) -> bool:
        body = {"messages": cmp.judge_messages(self.question, a, b), "temperature": 0}
        with tracing.judge_span(getattr(self.judge, "name", "judge")) as span:
            try:
                result = await self.judge.complete(ChatRequest(body))
            except ProviderError as exc:
                log.warning("crosswalk: judge call failed: %s", exc.evidence())
                tracing.judged(span, None, error=type(exc).__name__)
                return False
            add_usage(self.usage, result)
            verdict = cmp.parse_judge_verdict(answer_text(result))
            tracing.judged(span, verdict)
        return verdict is True

    def differences(self, a: str, b: str) -> list[str]:
        return []


def comparator_for(spec: VerifySpec, providers: Any, question: str) -> Comparator:
    """The comparator a step's verify block asks for (one per request: caches are per request)."""
    if spec.compare == "semantic":
        return _Semantic(spec, providers[spec.embeddings])
    if spec.compare == "judge":
        return _Judge(providers[spec.judge], question)
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
