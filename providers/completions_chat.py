"""Legacy text completions (POST /v1/completions) <-> Chat Completions, the pure mapping.

The prompt becomes one user message; the answer's text comes back as a `text_completion`
(choices with `text`), its stream as `text_completion` chunks, as `openai.types.Completion`
defines them. What a chat model cannot do for a completion request (`echo`, `suffix`,
`best_of` > 1, token-id prompts, several prompts in one call) raises `Untranslatable`
naming the field, never a silent drop.
"""

from __future__ import annotations

from typing import Any

from crosswalk.providers.responses_chat import Untranslatable

# Fields passed to the chat request as they are.
_SAME = ("max_tokens", "temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "logit_bias",
         "user", "seed", "stream", "stream_options", "service_tier")
KNOWN_FIELDS = frozenset({"model", "prompt", "echo", "suffix", "best_of", "logprobs", *_SAME})


def prompt_text(prompt: Any) -> str:
    """The one prompt of a request (a string, or an array holding one string)."""
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        raise Untranslatable("'prompt' holds several prompts: send one request per prompt", "prompt")
    raise Untranslatable("'prompt' must be a string (token-id prompts cannot be passed to chat models)", "prompt")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions body (without `model`) for a completions request."""
    for name in body:
        if name not in KNOWN_FIELDS:
            raise Untranslatable(f"'{name}' is not supported by Crosswalk's completions endpoint", name)
    if body.get("echo"):
        raise Untranslatable("'echo' cannot be served by a chat model: the prompt is not part of its answer", "echo")
    if body.get("suffix"):
        raise Untranslatable("'suffix' (insertion) cannot be served by a chat model", "suffix")
    if (body.get("best_of") or 1) > 1:
        raise Untranslatable("'best_of' above 1 cannot be served by a chat model: use 'n'", "best_of")
    chat: dict[str, Any] = {"messages": [{"role": "user", "content": prompt_text(body.get("prompt"))}]}
    for name in _SAME:
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("logprobs"):
        chat["logprobs"] = True
        chat["top_logprobs"] = body["logprobs"]
    return chat


def _choice(choice: dict[str, Any], text: str | None) -> dict[str, Any]:
    return {"text": text or "", "index": choice.get("index", 0), "logprobs": None, "finish_reason": choice.get("finish_reason")}


def to_completion(completion: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion as a text_completion."""
    out = {k: completion[k] for k in ("id", "created", "model", "usage", "system_fingerprint") if k in completion}
    choices = [_choice(c, (c.get("message") or {}).get("content")) for c in completion.get("choices") or ()]
    return {**out, "object": "text_completion", "choices": choices}


def to_chunk(chunk: dict[str, Any]) -> dict[str, Any] | None:
    """A chat.completion.chunk as a text_completion chunk (None for one with nothing to
    pass on, such as the role-only first chunk)."""
    choices = [_choice(c, (c.get("delta") or {}).get("content")) for c in chunk.get("choices") or ()]
    choices = [c for c in choices if c["text"] or c["finish_reason"]]
    if not choices and not chunk.get("usage"):
        return None
    out = {k: chunk[k] for k in ("id", "created", "model", "system_fingerprint") if k in chunk}
    if chunk.get("usage"):
        out["usage"] = chunk["usage"]
    return {**out, "object": "text_completion", "choices": choices}
