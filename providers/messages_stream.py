"""Streams across the Messages <-> Chat line: chat.completion.chunk dicts as Anthropic's
event sequence (`ChatToEvents`), and Anthropic's events as chunks (`EventsToChat`).

Deltas stay deltas: one chunk's text is one `text_delta`, a tool call's argument
fragments are `input_json_delta`s, never collapsed into one event at the end. The
sequence is Anthropic's: message_start, then per block content_block_start /
content_block_delta... / content_block_stop, then message_delta (stop reason, usage)
and message_stop.
"""

from __future__ import annotations

from typing import Any

from crosswalk.providers.messages_shapes import CHAT_FINISH, MESSAGES_STOP, chat_usage, message_id, messages_usage, tool_id

Event = dict[str, Any]


class ChatToEvents:
    """Turns one answer's chat chunks into Messages events. `observe` takes events that
    went to the caller untranslated (a native stream), so a stream resumed on another
    dialect's provider continues the same message and block numbering."""

    def __init__(self, *, model: str = "") -> None:
        self.model = model
        self.started = False
        self.stopped = False
        self.index = -1  # the open block's index; -1: none open
        self.open_kind: str | None = None  # "text" | "tool_use" | "thinking" | other native kinds
        self.tools: dict[int, int] = {}  # chat tool_calls index -> block index
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0}

    def observe(self, event: Event) -> None:
        """Note a native event sent as it came."""
        kind = event.get("type")
        if kind == "message_start":
            self.started = True
            self.usage = dict((event.get("message") or {}).get("usage") or self.usage)
        elif kind == "content_block_start":
            self.index = event.get("index", self.index + 1)
            self.open_kind = (event.get("content_block") or {}).get("type")
        elif kind == "content_block_stop":
            self.open_kind = None
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
        elif kind == "message_stop":
            self.stopped = True

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The events one chat chunk makes (often one, sometimes none)."""
        events: list[Event] = []
        if not self.started:
            self.started = True
            self.model = chunk.get("model") or self.model
            events.append({"type": "message_start", "message": {
                "id": message_id(chunk.get("id")), "type": "message", "role": "assistant", "content": [], "model": self.model,
                "stop_reason": None, "stop_sequence": None, "usage": dict(self.usage)}})
        if chunk.get("usage"):
            self.usage = messages_usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self._open(events, "text", {"type": "text", "text": ""})
                events.append(self._delta({"type": "text_delta", "text": delta["content"]}))
            for call in delta.get("tool_calls") or ():
                self._tool_delta(events, call)
            if choice.get("finish_reason"):
                self.stop_reason = MESSAGES_STOP.get(choice["finish_reason"], "end_turn")
        return events

    def _tool_delta(self, events: list[Event], call: dict[str, Any]) -> None:
        position = call.get("index", 0)
        function = call.get("function") or {}
        if position not in self.tools:
            self._close(events)
            self.index += 1
            self.tools[position] = self.index
            self.open_kind = "tool_use"
            events.append({"type": "content_block_start", "index": self.index, "content_block": {
                "type": "tool_use", "id": tool_id(call.get("id") or f"call_{self.index}"),
                "name": function.get("name", ""), "input": {}}})
        if function.get("arguments") and self.tools[position] == self.index:
            events.append(self._delta({"type": "input_json_delta", "partial_json": function["arguments"]}))

    def _open(self, events: list[Event], kind: str, block: dict[str, Any]) -> None:
        if self.open_kind == kind:
            return
        self._close(events)
        self.index += 1
        self.open_kind = kind
        events.append({"type": "content_block_start", "index": self.index, "content_block": block})

    def _close(self, events: list[Event]) -> None:
        if self.open_kind is not None:
            events.append({"type": "content_block_stop", "index": self.index})
            self.open_kind = None

    def _delta(self, delta: dict[str, Any]) -> Event:
        return {"type": "content_block_delta", "index": self.index, "delta": delta}

    def finish(self) -> list[Event]:
        """The closing events (none when a native stream already closed the message)."""
        if self.stopped:
            return []
        events: list[Event] = []
        if not self.started:
            events.extend(self.feed({}))
        self._close(events)
        self.stopped = True
        events.append({"type": "message_delta", "delta": {"stop_reason": self.stop_reason or "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": self.usage.get("output_tokens", 0)}})
        events.append({"type": "message_stop"})
        return events


class EventsToChat:
    """Turns Anthropic's events into chat.completion.chunk dicts, one chunk an event
    (`None` for an event a Chat caller has no use for). `error` events are the caller's
    to raise: `feed` returns them untouched in `error`."""

    def __init__(self, *, created: int = 0) -> None:
        self.created = created
        self.id = ""
        self.model = ""
        self.tools: dict[int, int] = {}  # block index -> chat tool_calls index
        self.usage: dict[str, Any] = {}
        self.done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    def feed(self, event: Event) -> dict[str, Any] | None:
        """The chat chunk for one event."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.id, self.model = message.get("id", ""), message.get("model", "")
            self.usage = dict(message.get("usage") or {})
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                position = self.tools[event.get("index", 0)] = len(self.tools)
                return self._chunk({"tool_calls": [{"index": position, "id": block.get("id"), "type": "function",
                                                    "function": {"name": block.get("name"), "arguments": ""}}]})
            if block.get("type") == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            return self._chunk({})
        if kind == "content_block_delta":
            return self._chunk(self._delta(event))
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            reason = (event.get("delta") or {}).get("stop_reason") or "end_turn"
            return self._chunk({}, CHAT_FINISH.get(reason, "stop"))
        if kind == "message_stop":
            self.done = True
            return {**self._chunk({}), "choices": [], "usage": chat_usage(self.usage)}
        if kind == "content_block_stop":
            return self._chunk({})
        return None  # ping, and event types added later

    def _delta(self, event: Event) -> dict[str, Any]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return {"content": delta.get("text", "")}
        if kind == "input_json_delta":
            position = self.tools.get(event.get("index", 0), 0)
            return {"tool_calls": [{"index": position, "function": {"arguments": delta.get("partial_json", "")}}]}
        if kind == "thinking_delta":
            return {"reasoning_content": delta.get("thinking", "")}
        return {}

