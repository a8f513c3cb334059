"""OpenAI's Responses API spoken natively: the vendor's Response object and its event
stream, read into the canonical chat view every other part of Crosswalk works on.

A provider that serves a /v1/responses caller natively (`kind: openai` with
`responses: true`) returns the vendor's Response unchanged under `NATIVE`, beside the
chat.completion this module reads out of it (text, function calls, finish reason, usage:
what validators, verification, records and metrics read). A stream's every event goes
to the caller as it came, each on a chat chunk (`NATIVE`) whose delta says what the
chain needs: text (the commit point, recovery's partial answer), reasoning summary
text, function-call arguments, the finish reason and usage on the terminal event.
Event shapes: `openai.types.responses` (ResponseStreamEvent).
"""

from __future__ import annotations

from typing import Any

from crosswalk.providers.errors import StreamBroken

DIALECT = "responses"
# A Response's `incomplete_details.reason` as a chat finish reason.
_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}
_TERMINAL = ("response.completed", "response.incomplete")


def native_body(body: dict[str, Any], *, model: str, stream: bool) -> dict[str, Any]:
    """The caller's Responses body as sent upstream: only `model` (and `stream`) changed.
    Crosswalk has already resolved `previous_response_id` into `input` (the dialect's
    work), so the body names no response the vendor may never have seen."""
    out = {**body, "model": model}
    if stream:
        out["stream"] = True
    else:
        out.pop("stream", None)
    return out


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """A Response's usage as chat usage (cached and reasoning token counts kept)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": usage.get("total_tokens") or prompt + completion,
            "prompt_tokens_details": {"cached_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0},
            "completion_tokens_details": {"reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0}}


def finish_reason(response: dict[str, Any]) -> str:
    """The chat finish reason a finished Response stands for."""
    if response.get("status") == "incomplete":
        return _FINISH.get((response.get("incomplete_details") or {}).get("reason") or "", "length")
    calls = any(item.get("type") == "function_call" for item in response.get("output") or ())
    return "tool_calls" if calls else "stop"


def response_to_chat(response: dict[str, Any]) -> dict[str, Any]:
    """The chat.completion a Response stands for: its output text, its function calls
    (with their call ids), the finish reason and usage."""
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in response.get("output") or ():
        if item.get("type") == "message":
            text += [p.get("text", "") for p in item.get("content") or () if p.get("type") == "output_text"]
        elif item.get("type") == "function_call":
            calls.append({"id": item.get("call_id"), "type": "function",
                          "function": {"name": item.get("name", ""), "arguments": item.get("arguments") or ""}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    chat = {"id": response.get("id"), "object": "chat.completion", "created": int(response.get("created_at") or 0),
            "model": response.get("model"), "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(response)}]}
    usage = chat_usage(response.get("usage"))
    if usage is not None:
        chat["usage"] = usage
    return chat


class EventsToChat:
    """Responses stream events in, one chat chunk per event out (its delta empty for the
    events that carry nothing the chain reads). `done`: the terminal event came. An
    `error` event or `response.failed` breaks the stream with the vendor's code."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False
        self._id: str | None = None
        self._model: str | None = None
        self._calls: dict[int, int] = {}  # output_index -> chat tool-call index

    def feed(self, event: dict[str, Any]) -> dict[str, Any]:
        """The chat chunk for one event."""
        kind = event.get("type")
        if kind in ("response.created", "response.in_progress") and isinstance(event.get("response"), dict):
            self._id = self._id or event["response"].get("id")
            self._model = self._model or event["response"].get("model")
        if kind == "error":
            raise StreamBroken(f"{self.provider}: error event in stream: {event.get('message', '')}"[:500], provider=self.provider,
                               reason="error_event", code=str(event.get("code") or "") or None)
        if kind == "response.failed":
            err = (event.get("response") or {}).get("error") or {}
            raise StreamBroken(f"{self.provider}: response failed in stream: {err.get('message', '')}"[:500],
                               provider=self.provider, reason="error_event", code=str(err.get("code") or "") or None)
        chunk: dict[str, Any] = {"id": self._id, "object": "chat.completion.chunk", "model": self._model,
                                 "choices": [{"index": 0, "delta": self._delta(event), "finish_reason": None}]}
        if kind in _TERMINAL:
            self.done = True
            response = event.get("response") or {}
            chunk["choices"][0]["finish_reason"] = finish_reason(response)
            usage = chat_usage(response.get("usage"))
            if usage is not None:
                chunk["usage"] = usage
        return chunk

    def _delta(self, event: dict[str, Any]) -> dict[str, Any]:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            return {"content": event.get("delta") or ""}
        if kind == "response.reasoning_summary_text.delta" or kind == "response.reasoning_text.delta":
            return {"reasoning_content": event.get("delta") or ""}
        if kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call":
            item = event["item"]
            index = self._calls.setdefault(event.get("output_index", 0), len(self._calls))
            return {"tool_calls": [{"index": index, "id": item.get("call_id"), "type": "function",
                                    "function": {"name": item.get("name", ""), "arguments": ""}}]}
        if kind == "response.function_call_arguments.delta":
            index = self._calls.get(event.get("output_index", 0), 0)
            return {"tool_calls": [{"index": index, "function": {"arguments": event.get("delta") or ""}}]}
        return {}
