"""Chat Completions stream chunks -> the Responses API event sequence.

    response.created, response.in_progress,
    per output item: response.output_item.added,
      a message: response.content_part.added, response.output_text.delta..., response.output_text.done,
                 response.content_part.done
      a function call: response.function_call_arguments.delta..., response.function_call_arguments.done
    response.output_item.done,
    response.completed (or response.incomplete), or `error` when the stream fails

with one `sequence_number` across the stream, as `openai.types.responses` defines them
and the official SDK's `responses.stream` helper accumulates them.
"""

from __future__ import annotations

from typing import Any

from crosswalk.providers.responses_chat import call_item, finish, logprobs, message_item, new_id, skeleton

Event = dict[str, Any]


class EventRenderer:
    """Feeds chunks in, takes events out. One instance per streamed response."""

    def __init__(self, body: dict[str, Any], *, response_id: str, created_at: float, model: str) -> None:
        self.response = skeleton(body, response_id=response_id, created_at=created_at, model=model)
        self._seq = 0
        self._open: dict[str, Any] | None = None  # the output item being streamed
        self._open_call: int | None = None  # its chat tool-call index, for a function call
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self.started = False  # response.created went out
        self.finished = False  # a native stream's own terminal event went out

    def observe(self, event: Event) -> None:
        """A native event the caller was sent as it came (a Responses provider served the
        stream): numbering and the response follow it, so what a failover adds after it
        (translated) continues the same response."""
        number = event.get("sequence_number")
        if isinstance(number, int) and number >= self._seq:
            self._seq = number + 1
        kind, response = event.get("type"), event.get("response")
        if kind in ("response.created", "response.in_progress") and isinstance(response, dict):
            self.response.update({k: v for k, v in response.items() if k != "output"})
            self.started = True
        elif kind in ("response.output_item.added", "response.output_item.done") and isinstance(event.get("item"), dict):
            self._place(event.get("output_index"), dict(event["item"]))
        elif kind == "response.output_text.delta":
            self._grow(event.get("output_index"), str(event.get("delta") or ""))
        elif kind in ("response.completed", "response.incomplete") and isinstance(response, dict):
            self.response, self.finished = dict(response), True

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _place(self, index: Any, item: dict[str, Any]) -> None:
        """A native item at its output index (added, then replaced when done), so a
        translated continuation numbers its items after it."""
        output = self.response["output"]
        if isinstance(index, int) and index < len(output):
            output[index] = item
        else:
            output.append(item)

    def _grow(self, index: Any, delta: str) -> None:
        """A native message's text so far (what the caller holds if the stream breaks)."""
        output = self.response["output"]
        if not isinstance(index, int) or index >= len(output) or output[index].get("type") != "message":
            return
        item = output[index] = {**output[index], "content": list(output[index].get("content") or [])}
        if not item["content"]:
            item["content"].append({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        item["content"][0] = {**item["content"][0], "text": item["content"][0].get("text", "") + delta}

    def start(self) -> list[Event]:
        """The opening events (the response, in progress)."""
        self.started = True
        snapshot = dict(self.response)
        return [self._event("response.created", response=snapshot), self._event("response.in_progress", response=snapshot)]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The events for one chat.completion.chunk (often none)."""
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        if chunk.get("model") and not self.response["model"]:
            self.response["model"] = chunk["model"]
        events: list[Event] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events += self._text(delta["content"], logprobs(choice))
            for call in delta.get("tool_calls") or ():
                events += self._call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _text(self, text: str, token_logprobs: list[dict[str, Any]]) -> list[Event]:
        events: list[Event] = []
        item = self._open
        if item is None or item["type"] != "message":
            events += self._close()
            item = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            events += self._add(item)
            events.append(self._event("response.content_part.added", item_id=item["id"], output_index=self._index(),
                                      content_index=0, part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}))
            item["text"], item["logprobs"] = "", []
        item["text"] += text
        item["logprobs"] += token_logprobs
        events.append(self._event("response.output_text.delta", item_id=item["id"], output_index=self._index(),
                                  content_index=0, delta=text, logprobs=token_logprobs))
        return events

    def _call(self, call: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self._open
        if item is None or item["type"] != "function_call" or self._open_call != index:
            events += self._close()
            item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress", "arguments": "",
                    "call_id": call.get("id") or new_id("call"), "name": function.get("name") or ""}
            events += self._add(item)
            self._open_call = index
        args = function.get("arguments") or ""
        if args:
            item["arguments"] += args
            events.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                      output_index=self._index(), delta=args))
        return events

    def _index(self) -> int:
        return len(self.response["output"])  # the open item is appended on close

    def _add(self, item: dict[str, Any]) -> list[Event]:
        self._open = item
        shown = {k: v for k, v in item.items() if k not in ("text", "logprobs")}
        return [self._event("response.output_item.added", output_index=self._index(), item=shown)]

    def _close(self) -> list[Event]:
        item, self._open, self._open_call = self._open, None, None
        if item is None:
            return []
        index = self._index()
        if item["type"] == "message":
            text, token_logprobs = item["text"], item["logprobs"]
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": token_logprobs}
            done = message_item(text, item_id=item["id"], token_logprobs=token_logprobs)
            events = [self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                                  text=text, logprobs=token_logprobs),
                      self._event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part)]
        else:
            done = call_item(item["call_id"], item["name"], item["arguments"], item_id=item["id"])
            events = [self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                  name=item["name"], arguments=item["arguments"])]
        self.response["output"].append(done)
        events.append(self._event("response.output_item.done", output_index=index, item=done))
        return events

    def end(self, extra: dict[str, Any] | None = None) -> list[Event]:
        """The closing events once the chunks ended: the open item done, then
        response.completed (or response.incomplete, with the reason). `extra` fields
        (Crosswalk's own block) ride on the final response."""
        events = self._close()
        self.response = finish(self.response, self._finish_reason, self._usage)
        if extra:
            self.response.update(extra)
        kind = "response.completed" if self.response["status"] == "completed" else "response.incomplete"
        events.append(self._event(kind, response=self.response))
        return events

    def error(self, message: str, *, code: str | None) -> Event:
        """The in-band `error` event that ends a stream which failed after it began: no
        response.completed follows, so no client takes the partial answer for a whole one."""
        return self._event("error", message=message, code=code, param=None)
