"""Which providers can carry a request that came in another dialect than Chat (Anthropic's
Messages, the Responses API), and how each one served it.

A provider speaks its own dialect natively (`dialect`, "chat" unless it says otherwise) and
may declare more (`native_dialects`: an OpenAI provider with `responses: true`). A request
whose native part `needs` what only its own dialect can carry (a thinking signature, a
built-in tool) narrows the step to the providers that speak it, like a compliance filter,
with the reason for each other one; how the answering provider served it (natively, or
translated with what the translation dropped) goes into the record.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from crosswalk.policies.config import StepConf
from crosswalk.providers.base import ChatRequest, Native, Provider
from crosswalk.router.errors import NoEligibleProvider
from crosswalk.router.records import DecisionRecord


class DialectFit:
    """Asks the providers (by name) what dialects they speak."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = providers

    def dialect(self, provider: str) -> str:
        """The API dialect `provider` speaks natively ("chat" unless it says otherwise)."""
        return getattr(self.providers.get(provider), "dialect", "chat")

    def speaks(self, provider: str, dialect: str) -> bool:
        """Whether `provider` serves `dialect` natively: its own, or one it declares besides
        (an OpenAI provider with `responses: true` serves Chat and the Responses API)."""
        adapter = self.providers.get(provider)
        return getattr(adapter, "dialect", "chat") == dialect or dialect in getattr(adapter, "native_dialects", ())

    def narrow(self, step: StepConf, native: Native | None) -> tuple[StepConf, dict[str, str]]:
        """`step` narrowed to the providers that can carry what the caller's request needs,
        and why each other one cannot; `NoEligibleProvider` when none can."""
        if native is None or not native.needs:
            return step, {}
        why = f"cannot carry {', '.join(native.needs)} (only a provider speaking {native.dialect} can)"
        ineligible = {n: why for n in step.providers if not self.speaks(n, native.dialect)}
        if len(ineligible) == len(step.providers):
            rows = "; ".join(f"{n}: blocked ({r})" for n, r in ineligible.items())
            raise NoEligibleProvider(f"step '{step.name}': no eligible provider: {rows}", step=step.name, retryable=False)
        return dataclasses.replace(step, providers=tuple(n for n in step.providers if n not in ineligible)), ineligible

    def note_served(self, record: DecisionRecord, request: ChatRequest | None, provider: str) -> None:
        """Record how `provider` serves the request: natively in the caller's dialect or
        translated, and what the translation leaves out (`dropped`)."""
        native = request.native if request is not None else None
        if native is not None:
            record.served = "native" if self.speaks(provider, native.dialect) else "translated"
            if record.served == "translated":
                record.dropped = native.dropped
        elif self.dialect(provider) != "chat" and request is not None:  # a Chat caller, served by a provider of another dialect
            untranslated = getattr(self.providers[provider], "untranslated", None)
            record.dropped = untranslated(request.body) if untranslated is not None else ()


def note_dialect(record: DecisionRecord, native: Native | None, ineligible: dict[str, str]) -> None:
    """The caller's dialect, and the providers ruled out for it, on the record."""
    if native is not None:
        record.dialect = native.dialect
        record.ineligible = ineligible
