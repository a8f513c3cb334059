"""What in a Responses request only a provider speaking the Responses API can carry
(`needs`), what a translation to Chat Completions may leave out (`dropped`), and the
request as Chat can take it. Pure: reads the request, changes nothing.

Needs (the other providers are not eligible for the request): built-in tools (web and
file search, code interpreter, computer use, image generation, MCP...) and a tool_choice
naming one, encrypted reasoning items and `include: reasoning.encrypted_content`, item
references, items of built-in tools and file inputs in this request's own input, fields
the translation has no place for (a stored `prompt`, say). Another model without them
would answer a different question.

Dropped (a hint the answer does without): reasoning items the caller sends without
encrypted content, and in the conversation Crosswalk stored (`previous_response_id`)
whatever Chat cannot replay: reasoning items, built-in tool calls of an earlier turn
(their results are in the answer text that followed), file parts. That is what lets the
next turn of a conversation a native provider served go to any provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswalk.providers.responses_chat import KNOWN_FIELDS

ENCRYPTED = "reasoning.encrypted_content"
_CHAT_ITEMS = ("message", "function_call", "function_call_output")
_CHAT_PARTS = ("input_text", "output_text", "refusal")
# Refused whoever serves them (to_chat says why): Crosswalk keeps the conversation itself.
_ALWAYS_REFUSED = ("background", "conversation")


@dataclass(frozen=True, slots=True)
class Split:
    """A Responses request split three ways: `body` and `items` as Chat can take them,
    `needs` as (param, what) pairs, `dropped` as what-strings."""

    body: dict[str, Any]
    items: list[dict[str, Any]]
    needs: tuple[tuple[str, str], ...]
    dropped: tuple[str, ...]


def split(body: dict[str, Any], history: list[dict[str, Any]], current: list[dict[str, Any]]) -> Split:
    """Split request `body` whose conversation is `history` (stored) then `current` (its input)."""
    needs: dict[tuple[str, str], None] = {}
    dropped: dict[str, None] = {}
    reduced = {k: v for k, v in body.items() if k in KNOWN_FIELDS or k in _ALWAYS_REFUSED}
    for name in body:
        if name not in reduced:
            needs[(name, f"'{name}'")] = None
    tools = body.get("tools")
    if isinstance(tools, list):
        kept = []
        for i, tool in enumerate(tools):
            if isinstance(tool, dict) and tool.get("type") not in (None, "function"):
                needs[(f"tools[{i}].type", f"built-in tool {tool['type']}")] = None
            else:
                kept.append(tool)
        reduced["tools"] = kept
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") != "function":
        needs[("tool_choice", f"tool_choice {choice.get('type')}")] = None
        reduced.pop("tool_choice")
    include = body.get("include")
    if isinstance(include, list) and ENCRYPTED in include:
        needs[("include", f"include {ENCRYPTED}")] = None
        reduced["include"] = [v for v in include if v != ENCRYPTED]
    items = [kept for item in history if (kept := _earlier(item, dropped)) is not None]
    items += [kept for i, item in enumerate(current) if (kept := _current(item, i, needs, dropped)) is not None]
    return Split(reduced, items, tuple(needs), tuple(dropped))


def replayable(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored conversation as a Responses provider is sent it: all of it but reasoning
    items without their encrypted content, which only point at reasoning the vendor that
    wrote them kept (another provider, or the same one under `store: false`, answers
    them with "item not found"); an encrypted one carries its reasoning with it."""
    return [item for item in history if item.get("type") != "reasoning" or item.get("encrypted_content")]


def _earlier(item: dict[str, Any], dropped: dict[str, None]) -> dict[str, Any] | None:
    """A stored item as Chat can replay it, or None (noted in `dropped`)."""
    kind = item.get("type", "message")
    if kind not in _CHAT_ITEMS:
        dropped[f"{kind} items of earlier turns"] = None
        return None
    parts = item.get("content")
    if kind != "message" or not isinstance(parts, list):
        return item
    kept = [p for p in parts if _chat_part(p)]
    if len(kept) < len(parts):
        dropped["file parts of earlier turns"] = None
    return {**item, "content": kept}


def _current(item: dict[str, Any], i: int, needs: dict[tuple[str, str], None], dropped: dict[str, None]) -> dict[str, Any] | None:
    """One of this request's input items as Chat can take it, or None (noted in `needs` or
    `dropped`). A malformed item is kept for the translation to refuse by name."""
    kind = item.get("type", "message")
    if kind == "reasoning":
        if item.get("encrypted_content"):
            needs[(f"input[{i}]", "encrypted reasoning items")] = None
        else:
            dropped["reasoning items"] = None
        return None
    if kind == "item_reference":
        needs[(f"input[{i}]", "item references")] = None
        return None
    if kind not in _CHAT_ITEMS:
        needs[(f"input[{i}].type", f"{kind} items")] = None
        return None
    parts = item.get("content")
    if kind != "message" or not isinstance(parts, list):
        return item
    kept = []
    for j, part in enumerate(parts):
        if _chat_part(part) or not isinstance(part, dict):
            kept.append(part)
        else:
            needs[(f"input[{i}].content[{j}]", f"{part.get('type')} parts (file ids, uploaded files)")] = None
    return {**item, "content": kept}


def _chat_part(part: Any) -> bool:
    if not isinstance(part, dict):
        return False
    return part.get("type") in _CHAT_PARTS or (part.get("type") == "input_image" and bool(part.get("image_url")))
