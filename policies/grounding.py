"""What an answer should be grounded in, read from the chat request: the question (the last
user message) and the context around it: system prompts, earlier turns, tool results
(messages with role `tool` or `function`) and retrieved documents the request carries in a
`documents` or `context` field. The judge sees all of it, so it can ask whether every claim
traces to a line of the context, not only whether two answers match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# A judge prompt must fit the judge's window: past this many characters of context the
# oldest blocks (system prompts last) are cut, and the prompt says so (a judge must not think it saw everything).
MAX_CONTEXT_CHARS = 60_000


@dataclass(frozen=True, slots=True)
class Grounding:
    """The question and the labelled context blocks, oldest first."""

    question: str
    context: tuple[tuple[str, str], ...] = ()
    cut_chars: int = 0


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)


def _label(message: Mapping[str, Any]) -> str:
    role = str(message.get("role") or "message")
    if role in ("tool", "function"):
        named = message.get("name") or message.get("tool_call_id")
        return f"tool result ({named})" if named else "tool result"
    return {"system": "system prompt", "developer": "system prompt", "user": "earlier user message",
            "assistant": "earlier assistant message"}.get(role, role)


def _documents(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key in ("documents", "context"):
        value = body.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        for i, item in enumerate(items, 1):
            if isinstance(item, dict):
                text = _text(item.get("text") or item.get("content") or item.get("page_content"))
                title = item.get("title") or item.get("id") or i
            else:
                text, title = _text(item), i
            if text:
                out.append((f"retrieved document {title}", text))
    return out


def grounding_of(body: Mapping[str, Any]) -> Grounding:
    """The question (the last user message) and every other message and document as context."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    question = _text(messages[last_user].get("content")) if last_user is not None else ""
    blocks: list[tuple[str, str]] = _documents(body)
    for i, message in enumerate(messages):
        if i == last_user:
            continue
        text = _text(message.get("content"))
        if message.get("tool_calls") and not text:
            text = "(asked for tools: " + ", ".join(
                str((c.get("function") or {}).get("name", "?")) for c in message["tool_calls"] if isinstance(c, dict)) + ")"
        if text:
            blocks.append((_label(message), text))
    cut = 0
    while blocks and sum(len(t) for _, t in blocks) > MAX_CONTEXT_CHARS:
        # the system prompt says what the answer may rest on: it goes last
        drop = next((i for i, (label, _) in enumerate(blocks) if label != "system prompt"), 0)
        cut += len(blocks.pop(drop)[1])
    return Grounding(question, tuple(blocks), cut)
