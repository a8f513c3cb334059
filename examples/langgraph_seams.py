"""The seed's refund pipeline as a LangGraph graph through Crosswalk: extract -> issue.

    pip install 'crosswalk-router[langchain]' langgraph
    python examples/langgraph_seams.py            # simulated vendors: no keys, no network
    python examples/langgraph_seams.py --fixed    # the application parses the amount right

Step `extract-refund` answers "Refund amount: $42.99". The application's own code turns
that into the number the next step needs, and the buggy parser drops the decimal point
(42.99 -> 4299), so step `issue-refund` is asked to refund 4299. No model was wrong; the
error lives in the seam between two steps. Both calls carry the same run id (`run=` on
`ChatCrosswalk`, taken from the graph's `configurable`; a framework's W3C trace id does the
same through the proxy), so Crosswalk sees both sides of the seam and flags it: the
reply's `response_metadata["seams"]` (the proxy's `x-crosswalk-seam` header), the metric
`crosswalk_seam_flags_total{from_step,to_step}`, a span event. With `on_seam: fail` the
step would answer a 422 naming both amounts instead of issuing the refund.

It prints one line per node and the seam; exits 0 when what it saw is what it expected
(a flag with the buggy parser, none with --fixed).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from crosswalk import Router
from crosswalk.router.langchain import ChatCrosswalk

CONFIG = Path(__file__).with_name("langgraph_seams.yaml")
TICKET = "Ticket 88123: I returned the blender last week. How much do I get back?"


class State(TypedDict, total=False):
    """What flows through the graph."""

    ticket: str
    answer: str
    amount: str  # what the application's code made of the answer
    seams: list[dict[str, Any]]


def parse_amount_buggy(text: str) -> str:
    """The application's re-parse, as the seed had it: strip everything but digits (the
    decimal point goes with the currency sign: 42.99 -> 4299)."""
    match = re.search(r"\$\s?([\d,.]+\d)", text)
    return re.sub(r"\D", "", match.group(1)) if match else ""


def parse_amount(text: str) -> str:
    """The same, done right."""
    match = re.search(r"\$\s?([\d,]*\.?\d+)", text)
    return match.group(1).replace(",", "") if match else ""


def build_graph(router: Router, *, fixed: bool) -> Any:
    """extract -> issue, each node one Crosswalk step; the run id comes from the graph's config."""
    extract_llm = ChatCrosswalk(router=router, step="extract-refund")
    issue_llm = ChatCrosswalk(router=router, step="issue-refund")
    parse = parse_amount if fixed else parse_amount_buggy

    async def extract(state: State, config: RunnableConfig) -> State:
        reply = await extract_llm.ainvoke([SystemMessage("Read the refund amount off the ticket."), HumanMessage(state["ticket"])],
                                          run=config["configurable"]["run"])
        return {"answer": str(reply.content), "amount": parse(str(reply.content))}

    async def issue(state: State, config: RunnableConfig) -> State:
        reply = await issue_llm.ainvoke([HumanMessage(f"Issue a refund of {state['amount']} USD for order 88123 and confirm it.")],
                                        run=config["configurable"]["run"])
        return {"seams": reply.response_metadata["seams"]}

    graph = StateGraph(State)
    graph.add_node("extract", extract)
    graph.add_node("issue", issue)
    graph.add_edge(START, "extract")
    graph.add_edge("extract", "issue")
    graph.add_edge("issue", END)
    return graph.compile()


async def main(argv: list[str]) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--config", default=str(CONFIG))
    args.add_argument("--fixed", action="store_true", help="parse the amount right (no seam to flag)")
    opts = args.parse_args(argv)
    router = Router(opts.config)
    try:
        graph = build_graph(router, fixed=opts.fixed)
        state = await graph.ainvoke({"ticket": TICKET}, config={"configurable": {"run": "ticket-88123"}})
    finally:
        await router.aclose()
    print(f"extract-refund answered: {state['answer']}")
    print(f"the application passed on: {state['amount']}")
    for seam in state["seams"]:
        print(f"seam flagged: {seam['from_step']} -> {seam['to_step']}: {seam['answered']} answered, "
              f"{seam['received']} received ({seam['kind']}; {seam['action']})")
    if not state["seams"]:
        print("no seam flagged")
    return 0 if bool(state["seams"]) != opts.fixed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
