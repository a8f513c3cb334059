"""What a tool-using model answers, for the fake vendor's `agent` mode: enough of an agent's
turn to drive agent frameworks over loopback.

Given tools and a conversation whose last message is not a tool result, it calls a tool
(the one `tool_choice` names, else the first) with arguments filled from the tool's JSON
Schema (an integer is the first number in the last user message, a string that message);
after a tool result it answers `The tool said: <result>`, unless `tool_choice` is
`required`: then it calls the first tool not called yet (an output tool, as pydantic-ai's).
With a `json_schema` response_format it answers JSON that fits the schema (drawn from the
last user message, or the tool result); in JSON mode, an object with the keys the prompt
names in quotes."""

from __future__ import annotations

import json
import re
from typing import Any


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def fill(schema: dict[str, Any], hint: str, defs: dict[str, Any]) -> Any:
    """A value that fits `schema` (objects get every property), drawn from `hint`."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return fill(defs.get(ref.rsplit("/", 1)[-1], {}), hint, defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return fill(options[0], hint, defs)
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    number = re.search(r"-?\d+(?:\.\d+)?", hint)
    if kind == "object":
        return {name: fill(sub, hint, defs) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [fill(schema.get("items") or {}, hint, defs)]
    if kind == "integer":
        return int(float(number.group())) if number else 1
    if kind == "number":
        return float(number.group()) if number else 1.0
    if kind == "boolean":
        return True
    return hint or "text"


def reply(body: dict[str, Any], default_text: str) -> dict[str, Any]:
    """The assistant message (`content` and/or `tool_calls`) an agent's model sends for `body`."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice")
    if tools and (choice == "required" or (choice != "none" and last.get("role") != "tool")):
        called = {c["function"]["name"] for m in messages for c in m.get("tool_calls") or ()}
        fresh = [t for t in tools if t["function"]["name"] not in called] or tools[-1:]
        wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        tool = next((t for t in tools if t["function"]["name"] == wanted), fresh[0])["function"]
        params = tool.get("parameters") or {}
        args = fill(params, _last_user_text(messages), params.get("$defs") or params.get("definitions") or {})
        return {"role": "assistant", "content": None,
                "tool_calls": [{"id": f"call_{len(messages)}", "type": "function",
                                "function": {"name": tool["name"], "arguments": json.dumps(args)}}]}
    text = f"The tool said: {last.get('content')}" if last.get("role") == "tool" else default_text
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = fmt["json_schema"].get("schema") or {}
        hint = text if last.get("role") == "tool" else _last_user_text(messages)
        text = json.dumps(fill(schema, hint, schema.get("$defs") or schema.get("definitions") or {}))
    elif fmt.get("type") == "json_object":  # the keys the prompt names in quotes, as a model would
        keys = re.findall(r"'(\w+)'", _last_user_text(messages)) or ["answer"]
        text = json.dumps({key: text for key in keys})
    return {"role": "assistant", "content": text}
