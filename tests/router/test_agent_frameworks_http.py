"""Agent frameworks that default to OpenAI's Responses API, with their default settings,
against a real `crosswalk serve` over a loopback fake vendor that calls tools: the OpenAI
Agents SDK (tracing export off, so nothing leaves loopback), pydantic-ai's
OpenAIResponsesModel with a tool and typed output, and LangChain's
ChatOpenAI(use_responses_api=True)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.router.proxy_harness import ProxyProcess

KEY = "agents-key-0123456789"


class Refund(BaseModel):
    order: int
    status: str


@pytest.mark.timeout(120)
async def test_agents_sdk_pydantic_ai_and_langchain_on_the_responses_endpoint(fake_vendor: Any, tmp_path: Path) -> None:
    vendor = await fake_vendor("v", agent=True)
    cfg = tmp_path / "agents.yaml"
    cfg.write_text(f"providers:\n  v: {{kind: openai, model: m-v, base_url: '{vendor.base_url}'}}\n"
                   f"steps:\n  draft: {{providers: [v]}}\nproxy: {{api_keys: [{KEY}]}}\n")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0)
    try:
        await _agents_sdk(client, vendor)
        await _pydantic_ai(client)
        await _langchain(proxy.url + "/v1")
        assert all(call.path == "/v1/chat/completions" for call in vendor.calls)  # every one translated
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def _agents_sdk(client: openai.AsyncOpenAI, vendor: Any) -> None:
    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
    from agents.models._openai_shared import get_use_responses_by_default

    assert get_use_responses_by_default()  # default settings: the Responses API

    set_tracing_disabled(True)  # the trace exporter would post to api.openai.com
    set_default_openai_client(client, use_for_tracing=False)

    @function_tool
    def order_status(order: int) -> str:
        """The shipping status of an order."""
        return f"order {order} shipped"

    before = vendor.count
    agent = Agent(name="support", instructions="Answer refund questions.", model="draft", tools=[order_status])
    result = await Runner.run(agent, "Where is order 41?")
    assert result.final_output == "The tool said: order 41 shipped"
    assert vendor.count - before == 2  # the tool call, then the answer
    assert vendor.calls[-1].body["messages"][0] == {"role": "system", "content": "Answer refund questions."}
    streamed = Runner.run_streamed(agent, "Where is order 42?")  # the same agent on the Responses event stream
    kinds = {event.type async for event in streamed.stream_events()}
    assert streamed.final_output == "The tool said: order 42 shipped" and "raw_response_event" in kinds


async def _pydantic_ai(client: openai.AsyncOpenAI) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIResponsesModel("draft", provider=OpenAIProvider(openai_client=client))
    agent = Agent(model, output_type=Refund)
    calls: list[int] = []

    @agent.tool_plain
    def order_status(order: int) -> str:
        """The shipping status of an order."""
        calls.append(order)
        return "shipped"

    result = await agent.run("Refund order 7")
    assert calls == [7]
    assert isinstance(result.output, Refund) and result.output.order == 7
    async with agent.run_stream("Refund order 8") as streamed:  # the same agent, streamed
        output = await streamed.get_output()
    assert output.order == 8 and calls == [7, 8]


async def _langchain(base_url: str) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def order_status(order: int) -> str:
        """The shipping status of an order."""
        return "shipped"

    llm = ChatOpenAI(model="draft", base_url=base_url, api_key=KEY, use_responses_api=True, max_retries=0)
    reply = await llm.ainvoke("Say hi")
    assert reply.text.startswith("Answer from v")
    called = await llm.bind_tools([order_status]).ainvoke("Where is order 9?")
    assert called.tool_calls[0]["name"] == "order_status" and called.tool_calls[0]["args"] == {"order": 9}
    chunks = [c async for c in llm.astream("Say hi")]
    assert "".join(c.text for c in chunks).startswith("Answer from v")
