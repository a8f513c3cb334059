"""A deterministic in-process vendor with scripted latency, faults and answers.

It powers the embedded default config and the tests. It is a real provider: it raises the
same error tree, with the same payloads, that real vendors cause, so the classifier and the
engine cannot tell it from the wire. Faults are set at run time with `set_fault`.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

from crosswalk.providers.errors import MalformedResponse, ProviderHTTPError, StreamBroken


@dataclass(frozen=True, slots=True)
class Fault:
    """What the simulated vendor does instead of answering well.

    kind: http (status/code/message), hang (never answers), slow (`delay_s` before
    answering), cut (stream breaks after `after_chunks`), stall (stream goes silent after
    `after_chunks`), malformed (bad body, or a bad chunk after `after_chunks`).
    """

    kind: str
    status: int = 0
    code: str | None = None
    message: str = ""
    delay_s: float = 0.0
    after_chunks: int = 1
    retry_after_s: float | None = None
    error_type: str | None = None

    @classmethod
    def http(cls, status: int, message: str = "", code: str | None = None, retry_after_s: float | None = None,
             error_type: str | None = None) -> "Fault":
        return cls("http", status=status, code=code, message=message or f"simulated HTTP {status}",
                   retry_after_s=retry_after_s, error_type=error_type)

    @classmethod
    def outage(cls) -> "Fault":
        """A 503, as a vendor outage looks from outside."""
        return cls.http(503, "The server is temporarily unable to service your request (overloaded).", "service_unavailable")

    @classmethod
    def region_block(cls) -> "Fault":
        """OpenAI's region block, exactly as it is sent."""
        return cls.http(403, "Country, region, or territory not supported", "unsupported_country_region_territory")

    @classmethod
    def withdrawn(cls, model: str) -> "Fault":
        """Anthropic's 404 for a retired model, exactly as it is sent (`model` is the one retired)."""
        return cls.http(404, f"model: {model}", error_type="not_found_error")


class SimulatedProvider:
    """A scripted vendor. `answer` or `answers` (substring of the last user message ->
    answer) decide the text; latency and jitter are seeded, so runs repeat."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        latency_ms: float = 20.0,
        jitter_ms: float = 5.0,
        ttft_ms: float | None = None,
        answer: str | None = None,
        answers: dict[str, str] | None = None,
        chunk_words: int = 3,
        seed: int = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.model = model
        self.latency_s = latency_ms / 1000.0
        self.jitter_s = jitter_ms / 1000.0
        self.ttft_s = ttft_ms / 1000.0 if ttft_ms is not None else self.latency_s / 2
        self.answer = answer
        self.answers = dict(answers or {})
        self.chunk_words = chunk_words
        self._rng = random.Random(seed)
        self._sleep = sleep
        self.fault: Fault | None = None
        self.calls = 0

    def __repr__(self) -> str:
        return f"SimulatedProvider(name={self.name!r}, model={self.model!r})"

    def set_fault(self, fault: Fault | None) -> None:
        """Start (or with None, end) a fault; it applies to every later call."""
        self.fault = fault

    def _text(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        # A continuation (the partial answer as a trailing assistant message, or followed by
        # a user message asking to go on) of an answer this model would give: the rest of it.
        for back in (1, 2):
            partial = messages[-back].get("content") if len(messages) > back and messages[-back].get("role") == "assistant" else None
            if isinstance(partial, str) and partial:
                text = self._answer_to(messages[:-back])
                if text.startswith(partial):
                    return text[len(partial):]
        return self._answer_to(messages)

    def _answer_to(self, messages: list[dict[str, Any]]) -> str:
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
        if not isinstance(last, str):
            last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
        for key, text in self.answers.items():
            if key in last:
                return text
        if self.answer is not None:
            return self.answer
        return f"{self.model} answers: {' '.join(last.split()[:12])}"

    def _delay(self, base: float) -> float:
        return max(0.0, base + self._rng.uniform(-self.jitter_s, self.jitter_s))

    async def _before_answer(self) -> Fault | None:
        self.calls += 1
        fault = self.fault
        if fault is None:
            return None
        if fault.kind == "http":
            await self._sleep(self._delay(self.latency_s / 4))
            raise ProviderHTTPError(
                fault.message, provider=self.name, status=fault.status, code=fault.code, retry_after_s=fault.retry_after_s,
                error_type=fault.error_type,
            )
        if fault.kind == "hang":
            await asyncio.Event().wait()  # the caller's timeout ends this
        if fault.kind == "slow":
            await self._sleep(fault.delay_s)
        return fault

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        completion = len(text.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def complete(self, request: Any) -> dict[str, Any]:
        """Answer after the scripted latency, or fail as the current fault says."""
        fault = await self._before_answer()
        await self._sleep(self._delay(self.latency_s))
        if fault is not None and fault.kind == "malformed":
            raise MalformedResponse(f"{self.name}: response body is not JSON", provider=self.name)
        text = self._text(request.body)
        return {
            "id": f"chatcmpl-sim-{self.calls}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": self._usage(request.body, text),
        }

    async def stream(self, request: Any) -> AsyncIterator[dict[str, Any]]:
        """Yield role, content chunks of `chunk_words` words, then the finish chunk."""
        fault = await self._before_answer()
        text = self._text(request.body)
        words = text.split(" ")
        pieces = [" ".join(words[i : i + self.chunk_words]) for i in range(0, len(words), self.chunk_words)]
        base = {"id": f"chatcmpl-sim-{self.calls}", "object": "chat.completion.chunk", "created": int(time.time()), "model": self.model}
        await self._sleep(self._delay(self.ttft_s))
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        gap = max(0.0, self.latency_s - self.ttft_s) / max(1, len(pieces))
        for i, piece in enumerate(pieces):
            if fault is not None and fault.kind in ("cut", "malformed") and i >= fault.after_chunks:
                reason = "cut" if fault.kind == "cut" else "malformed"
                raise StreamBroken(f"{self.name}: simulated stream {reason}", provider=self.name, reason=reason)
            if fault is not None and fault.kind == "stall" and i >= fault.after_chunks:
                await asyncio.Event().wait()
            content = piece if i == 0 else " " + piece
            yield {**base, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
            await self._sleep(self._delay(gap))
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": self._usage(request.body, text)}

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Deterministic bag-of-words vectors (64 hashed dimensions): texts sharing words
        are close, unrelated texts are not."""
        await self._before_answer()
        await self._sleep(self._delay(self.latency_s))
        vectors = []
        for text in texts:
            vec = [0.0] * 64
            for word in text.lower().split():
                word = word.strip(".,;:!?\"'()")
                if word:
                    vec[zlib.crc32(word.encode()) % 64] += 1.0
            vectors.append(vec)
        return vectors

    async def aclose(self) -> None:
        """Nothing to release."""

