"""Which providers accept an assistant prefill: the partial answer sent as the last
assistant message, which the model continues (mid-stream recovery, router/resume.py).

A provider's `prefill:` in the config decides; left out, this default does. Sending a
prefill to a model that does not take it fails (a 400) or, worse, answers anew from the
start, so the default is `false` unless the vendor documents prefill:
- Anthropic's Messages API continues a trailing assistant turn (`kind: anthropic`,
  litellm `anthropic/...`, and Claude on Bedrock or Vertex): true.
- The OpenAI wire (`kind: openai`: OpenAI, Azure, Groq, vLLM, Ollama...): false. The
  chat-completions API starts a new message after a trailing assistant one, and some
  servers reject it; such providers get a continuation that ends with a user message.
- `simulated`: false (it answers its scripted text whatever the messages say).
"""

from __future__ import annotations

_PREFILL_MODELS = ("anthropic/", "bedrock/anthropic.", "bedrock/us.anthropic.", "bedrock/eu.anthropic.", "vertex_ai/claude")


def prefill_default(kind: str, model: str) -> bool:
    """Whether a provider of `kind` serving `model` takes an assistant prefill by default."""
    return kind == "anthropic" or (kind == "litellm" and model.lower().startswith(_PREFILL_MODELS))


class PrefillRefusals:
    """Providers that rejected a prefill lately (mid-stream recovery asks them without one
    for `ttl_s`, rather than spend a round trip on a 400 they gave a minute ago). Bounded:
    at most `capacity` providers, the oldest refusal forgotten first. Times are passed in
    (the router's clock), so this stays pure."""

    def __init__(self, *, ttl_s: float = 900.0, capacity: int = 256) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._at: dict[str, float] = {}  # provider -> when it last refused, oldest first

    def note(self, provider: str, now: float) -> None:
        """`provider` rejected a prefill at `now`."""
        self._at.pop(provider, None)
        self._at[provider] = now
        while len(self._at) > self.capacity:
            del self._at[next(iter(self._at))]

    def refused_since(self, provider: str, now: float) -> float | None:
        """Seconds since `provider` rejected a prefill, while that is remembered; else None."""
        at = self._at.get(provider)
        if at is None:
            return None
        if now - at >= self.ttl_s:
            del self._at[provider]
            return None
        return now - at
