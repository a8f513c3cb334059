"""Small shared vocabulary of the Messages <-> Chat mappings: stop reasons, usage and
tool-call ids, each way."""

from __future__ import annotations

import hashlib
import re
from typing import Any

# Messages stop_reason -> Chat finish_reason, and back.
CHAT_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
               "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
MESSAGES_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                 "content_filter": "refusal"}

_ID_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")


def tool_id(raw: str) -> str:
    """A tool-call id as Anthropic accepts it (`^[a-zA-Z0-9_-]+$`): unchanged when it
    already fits (OpenAI's `call_...`, Anthropic's `toolu_...`), else the same rewrite every
    time (bad characters as `_`, a hash suffix so two ids never meet), so a later turn that
    quotes the id on any vendor names the same call."""
    if _ID_OK.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
    return (_ID_BAD.sub("_", raw)[:48] or "call") + "_" + digest


def messages_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """A Chat `usage` as Messages usage: cached prompt tokens are `cache_read_input_tokens`
    and, as Anthropic counts them, not part of `input_tokens`."""
    usage = usage or {}
    cached = ((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
    out = {"input_tokens": max(0, (usage.get("prompt_tokens") or 0) - cached),
           "output_tokens": usage.get("completion_tokens") or 0}
    if cached:
        out["cache_read_input_tokens"] = cached
    return out


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """A Messages usage as Chat `usage` (cache reads and writes counted as prompt tokens)."""
    usage = usage or {}
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
    completion = usage.get("output_tokens") or 0
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def message_id(chat_id: Any) -> str:
    """A Messages `id` (`msg_...`) for a Chat answer's id (kept when it already is one)."""
    text = str(chat_id or "")
    return text if text.startswith("msg_") else "msg_" + tool_id(text or "crosswalk")
