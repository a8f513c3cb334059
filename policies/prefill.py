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
