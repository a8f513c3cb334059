"""A `kind: litellm` provider on Anthropic's Messages API (a loopback vendor answering in
Anthropic's shapes, from the anthropic SDK's types), behind a real `crosswalk serve`, asked
with the openai client: a tool call comes back in OpenAI's non-streamed shape (no stray
content-block `index`), and a vendor's error reaches the caller, the decision log and the
provider state as the vendor's own message, without litellm's wrapping
(`litellm.PermissionDeniedError: AnthropicException - {...}`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic.types
import openai
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletion

from tests.loopback import serve_loopback
from tests.router.proxy_harness import ProxyProcess

TOOL_ANSWER = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Checking the weather."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 9},
}
DENIED_MESSAGE = "Your API key does not have permission to use the specified resource."
DENIED = {"type": "error", "error": {"type": "permission_error", "message": DENIED_MESSAGE}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
WRAPPING = ("litellm.", "AnthropicException", "PermissionDeniedError")


def test_the_fake_speaks_anthropics_shapes():
    assert anthropic.types.Message.model_validate(TOOL_ANSWER).stop_reason == "tool_use"
    error = anthropic.types.ErrorResponse.model_validate(DENIED).error
    assert isinstance(error, anthropic.types.PermissionErrorObject) and error.message == DENIED_MESSAGE


async def _anthropic_vendor(replies: list[tuple[int, dict[str, Any]]]) -> tuple[web.AppRunner, str]:
    async def messages(request: web.Request) -> web.Response:
        await request.json()
        status, body = replies.pop(0)
        return web.json_response(body, status=status, headers={"request-id": "req_fake"})

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner, port = await serve_loopback(app)
    return runner, f"http://127.0.0.1:{port}"


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "crosswalk.yaml"
    path.write_text(f"""
providers:
  claude: {{kind: litellm, model: anthropic/claude-sonnet-4-5, base_url: "{url}", api_key: sk-ant-loopback}}
steps:
  draft: {{providers: [claude], max_attempts: 1, timeouts: {{per_try_s: 20, total_s: 30}}}}
""")
    return path


@pytest.mark.timeout(120)  # the first litellm import in the child takes seconds
async def test_tool_calls_and_vendor_errors_through_litellm(tmp_path):
    runner, url = await _anthropic_vendor([(200, TOOL_ANSWER), (403, DENIED)])
    proxy = ProxyProcess(_config(tmp_path, url), extra=["--log-level", "info"])
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)
    try:
        await asyncio.to_thread(proxy.wait_ready)
        raw = await client.chat.completions.with_raw_response.create(
            model="draft", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS)
        body = json.loads(raw.text)
        ChatCompletion.model_validate(body)
        call = body["choices"][0]["message"]["tool_calls"][0]
        assert set(call) == {"id", "type", "function"}, call  # OpenAI's ChatCompletionMessageToolCall: no index
        assert call["function"] == {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="draft", messages=[{"role": "user", "content": "again"}])
        caller_sees = json.dumps(info.value.body)
        assert DENIED_MESSAGE in caller_sees and not any(w in caller_sees for w in WRAPPING), caller_sees
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)
        await runner.cleanup()
    log = proxy.log()
    assert DENIED_MESSAGE in log and not any(w in log for w in WRAPPING), log
