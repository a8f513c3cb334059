"""`ChatCrosswalk` (router/langchain.py): a LangChain chat model over the SDK, in-process.

Runs against `Router()` on the embedded default config (simulated vendors), so replies are
deterministic: `<model> answers: <the first 12 words of the last user message>`.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, AsyncIterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from crosswalk import Router
from crosswalk.providers.simulated import Fault
from crosswalk.router.langchain import ChatCrosswalk, to_openai_messages


@pytest.fixture
def router() -> Any:
    r = Router()
    yield r
    r.close()


def test_import_crosswalk_does_not_import_langchain():
    out = subprocess.run([sys.executable, "-c", "import crosswalk, crosswalk.router.sdk, sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    assert not {m for m in out.stdout.split() if m.startswith(("langchain", "langgraph"))}


def test_invoke_returns_the_answer_with_provider_model_and_usage(router):
    reply = ChatCrosswalk(router=router, step="draft").invoke([SystemMessage("Be brief."), HumanMessage("hello there")])
    assert isinstance(reply, AIMessage)
    assert reply.content == "alpha-large-2 answers: hello there"
    meta = reply.response_metadata
    assert meta["provider"] == "alpha-large" and meta["model_name"] == "alpha-large-2"
    assert meta["step"] == "draft" and meta["attempts"] == ["alpha-large:ok"] and meta["failovers"] == 0
    assert meta["agreement"] is None and meta["finish_reason"] == "stop"
    usage = reply.usage_metadata
    assert usage is not None and usage["output_tokens"] == 4
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_verified_step_puts_the_agreement_decision_and_score_on_the_message(router):
    reply = ChatCrosswalk(router=router, step="refund-amount").invoke("What is the refund amount?")
    agreement = reply.response_metadata["agreement"]
    assert agreement["decision"] == "disagreed"  # gamma-open drops the decimal point
    assert 0 < agreement["score"] < 1 and agreement["quorum"] == "3 of 3" and agreement["comparator"] == "numeric"
    assert [v["provider"] for v in agreement["dissenting"]] == ["gamma-open"]
    assert {v["provider"] for v in agreement["agreeing"]} == {"alpha-mini", "beta-pro"}
    assert "42.99" in str(reply.content)  # the majority answer


def test_failover_shows_in_the_metadata(router):
    router.providers["alpha-large"].set_fault(Fault.outage())
    reply = ChatCrosswalk(router=router, step="draft").invoke("hello")
    meta = reply.response_metadata
    assert meta["provider"] == "beta-pro" and meta["model_name"] == "beta-pro-1"
    assert meta["attempts"][0].startswith("alpha-large:") and meta["attempts"][-1] == "beta-pro:ok"
    assert meta["failovers"] == 1


def test_per_call_model_names_another_step(router):
    reply = ChatCrosswalk(router=router, step="draft").invoke("hello", model="summarize-eu")
    assert reply.response_metadata["step"] == "summarize-eu"
    assert reply.response_metadata["provider"] == "beta-pro"  # the EU step's first provider


async def test_ainvoke(router):
    reply = await ChatCrosswalk(router=router, step="draft").ainvoke("hello async")
    assert reply.content == "alpha-large-2 answers: hello async"
    assert reply.response_metadata["provider"] == "alpha-large"


def test_stream_yields_the_same_text_and_ends_with_the_record(router):
    llm = ChatCrosswalk(router=router, step="draft")
    prompt = "one two three four five six seven"
    chunks = list(llm.stream(prompt))
    assert len([c for c in chunks if c.content]) > 1 and all(isinstance(c, AIMessageChunk) for c in chunks)
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.content == llm.invoke(prompt).content
    # The record comes once (added chunks concatenate strings), with the attempts complete.
    assert full.response_metadata["provider"] == "alpha-large"
    assert full.response_metadata["attempts"] == ["alpha-large:ok"]
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] == len(str(full.content).split())


async def test_astream(router):
    llm = ChatCrosswalk(router=router, step="draft")
    chunks = [c async for c in llm.astream("stream this please")]
    text = "".join(str(c.content) for c in chunks)
    assert text == "alpha-large-2 answers: stream this please"
    assert [c.response_metadata["provider"] for c in chunks if "provider" in c.response_metadata] == ["alpha-large"]


def test_messages_map_to_openai_roles():
    ai = AIMessage("", tool_calls=[{"name": "lookup", "args": {"order": 1234}, "id": "call_1"}])
    wire = to_openai_messages([SystemMessage("sys"), HumanMessage("hi"), ai, ToolMessage("42.99", tool_call_id="call_1")])
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool"]
    assert wire[1]["content"] == "hi"
    assert wire[2]["tool_calls"][0]["function"]["name"] == "lookup"
    assert wire[2]["tool_calls"][0]["id"] == "call_1"
    assert wire[3]["tool_call_id"] == "call_1" and wire[3]["content"] == "42.99"


class _ToolCaller:
    """A provider that answers with a tool call, and records the request it was sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def complete(self, request: Any) -> dict[str, Any]:
        self.bodies.append(request.body)
        call = {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": '{"order": 1234}'}}
        return {"id": "chatcmpl-tool", "object": "chat.completion", "created": 0, "model": "x",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                             "finish_reason": "tool_calls"}]}

    def stream(self, request: Any) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def test_tool_calls_and_params_pass_through():
    caller = _ToolCaller()
    r = Router(providers={"alpha-large": caller})
    try:
        tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
        llm = ChatCrosswalk(router=r, step="draft", temperature=0.2, max_tokens=50, stop=["END"])
        reply = llm.invoke("find order 1234", tools=tools, model="draft")
    finally:
        r.close()
    assert reply.tool_calls == [{"name": "lookup", "args": {"order": 1234}, "id": "call_9", "type": "tool_call"}]
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    body = caller.bodies[0]
    assert body["tools"] == tools and body["temperature"] == 0.2 and body["max_tokens"] == 50 and body["stop"] == ["END"]
    assert body["messages"] == [{"role": "user", "content": "find order 1234"}]
    assert "step" not in body and body.get("model") != "draft"  # the step name is not a request field


def test_in_a_langgraph_state_graph(router):
    llm = ChatCrosswalk(router=router, step="draft")

    def draft(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("draft", draft)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", END)
    final = graph.compile().invoke({"messages": [HumanMessage("reply to ticket 1234")]})
    last = final["messages"][-1]
    assert isinstance(last, AIMessage) and last.content == "alpha-large-2 answers: reply to ticket 1234"
    assert last.response_metadata["provider"] == "alpha-large"


async def test_in_an_async_langgraph_graph_with_a_verified_step(router):
    drafter = ChatCrosswalk(router=router, step="draft")
    checker = ChatCrosswalk(router=router, step="refund-amount")

    async def draft(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await drafter.ainvoke(state["messages"])]}

    async def check(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await checker.ainvoke([HumanMessage("What is the refund amount?")])]}

    graph = StateGraph(MessagesState)
    graph.add_node("draft", draft)
    graph.add_node("check", check)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "check")
    graph.add_edge("check", END)
    final = await graph.compile().ainvoke({"messages": [HumanMessage("refund for ticket 1234")]})
    drafted, checked = final["messages"][1], final["messages"][2]
    assert drafted.response_metadata["agreement"] is None
    assert checked.response_metadata["agreement"]["decision"] == "disagreed"
    assert checked.response_metadata["provider"] in router.config.steps["refund-amount"].providers


@pytest.fixture
async def agent_router(fake_vendor: Any) -> AsyncIterator[tuple[Router, Any]]:
    """A router whose draft step fails over from a broken provider to a tool-calling one."""
    from crosswalk.policies.parse import parse_config
    from tests.fakevendor import error

    broken = await fake_vendor("broken")
    broken.always(error(503, {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}))
    vendor = await fake_vendor("v", agent=True)
    yaml = "".join(f"  {v.name}: {{kind: openai, model: m-{v.name}, base_url: '{v.base_url}', api_key: k}}\n" for v in (broken, vendor))
    r = Router(parse_config(f"providers:\n{yaml}steps:\n  draft: {{providers: [broken, v]}}\n", env={}, source="agent"))
    yield r, vendor
    await r.aclose()


async def test_create_react_agent_runs_tools_in_process(agent_router):
    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    router, vendor = agent_router

    @tool
    def order_status(order: int) -> str:
        """The shipping status of an order."""
        return f"order {order} shipped"

    agent = create_react_agent(ChatCrosswalk(router=router, step="draft"), [order_status])
    state = await agent.ainvoke({"messages": [HumanMessage("Where is order 12?")]})
    kinds = [type(m).__name__ for m in state["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert state["messages"][1].tool_calls[0]["args"] == {"order": 12}
    assert state["messages"][-1].content == "The tool said: order 12 shipped"
    assert state["messages"][-1].response_metadata["provider"] == "v"  # after a failover past `broken`
    assert vendor.calls[-1].body["tools"][0]["function"]["name"] == "order_status"


async def test_structured_output_by_json_schema_and_function_calling_with_raw(agent_router):
    from pydantic import BaseModel

    class Refund(BaseModel):
        order: int
        reason: str

    router, vendor = agent_router
    llm = ChatCrosswalk(router=router, step="draft")
    by_schema = await llm.with_structured_output(Refund, method="json_schema", strict=True).ainvoke("Refund order 3")
    assert by_schema == Refund(order=3, reason="Refund order 3")
    assert vendor.calls[-1].body["response_format"]["json_schema"]["name"] == "Refund"
    raw = await llm.with_structured_output(Refund, include_raw=True).ainvoke("Refund order 4")
    assert raw["parsed"] == Refund(order=4, reason="Refund order 4") and raw["parsing_error"] is None
    assert raw["raw"].tool_calls[0]["name"] == "Refund"
    assert vendor.calls[-1].body["tool_choice"] == {"type": "function", "function": {"name": "Refund"}}
    chunks = [c async for c in llm.bind_tools([Refund], tool_choice="any").astream("Refund order 5")]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.tool_calls[0]["args"] == {"order": 5, "reason": "Refund order 5"}  # tool calls in streamed chunks
    assert merged.usage_metadata is not None and merged.usage_metadata["input_tokens"] == 19
