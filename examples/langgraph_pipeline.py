"""research -> draft -> verify, as a LangGraph graph running through Crosswalk in-process.

    pip install 'crosswalk-router[langchain]' langgraph
    python examples/langgraph_pipeline.py            # simulated vendors: no keys, no network

Each node is one Crosswalk step (examples/langgraph_pipeline.yaml) called through
`ChatCrosswalk`, so every call gets failover and timeouts. The verify step asks three
independent vendors, each answer first checked by the step's output validator (the refund
must lie in a plausible band: an answer out of it is a failed member, not a vote), and
returns their agreement and the validator's findings in the reply's message metadata; the
verify node reads both and, unless the panel agreed, loops back to draft with the votes and
the broken rules as feedback. With the scripted vendors the first draft states $4299, one
vendor repeats it and breaks the band, the panel cannot agree, the second draft states
$42.99 and the panel agrees.

Agreement and a band are still not the whole check: the panel can agree on an amount the
draft does not state, and no rule on the panel's answers can see the draft. So the node
also runs one plain check by hand (the agreed amount appears in the draft).

It prints a short trace, one line per node, and exits 0 when the reply ended agreed.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from crosswalk import Router
from crosswalk.router.langchain import ChatCrosswalk

CONFIG = Path(__file__).with_name("langgraph_pipeline.yaml")
TICKET = "Ticket 1234: I returned my order last week. When do I get my money back, and how much?"
MAX_DRAFTS = 3  # a bound on the loop: a panel that never agrees must not spin forever
_AMOUNT = re.compile(r"\d[\d,]*(?:\.\d+)?")


class State(TypedDict, total=False):
    """What flows through the graph. `trace` collects one line per node (appended)."""

    ticket: str
    notes: str
    draft: str
    feedback: str
    drafts: int
    verdict: str  # agreed | disagreed | inconclusive (the panel's decision) | unchecked
    trace: Annotated[list[str], operator.add]


def amounts(text: str) -> set[Decimal]:
    """The numbers a text states (commas dropped), to compare the panel's with the draft's."""
    found = set()
    for match in _AMOUNT.findall(text):
        try:
            found.add(Decimal(match.replace(",", "")))
        except InvalidOperation:
            continue
    return found


def build_graph(router: Router) -> Any:
    """The compiled graph over `router`: research -> draft -> verify, verify -> draft on
    disagreement (or a failed check), verify -> END when agreed and checked."""
    research_llm = ChatCrosswalk(router=router, step="research")
    draft_llm = ChatCrosswalk(router=router, step="draft")
    verify_llm = ChatCrosswalk(router=router, step="verify")

    async def research(state: State) -> State:
        reply = await research_llm.ainvoke([
            SystemMessage("You research support tickets. List the facts a reply needs."),
            HumanMessage(state["ticket"]),
        ])
        who = reply.response_metadata["provider"]
        return {"notes": str(reply.content), "trace": [f"research   {who:<15} {reply.content}"]}

    async def draft(state: State) -> State:
        n = state.get("drafts", 0) + 1
        prompt = f"Ticket: {state['ticket']}\nResearch notes: {state['notes']}\n"
        if state.get("feedback"):
            # The simulated writers revise when they see this marker; real models read the votes.
            prompt += f"Reviewer feedback: {state['feedback']}\n"
        reply = await draft_llm.ainvoke([SystemMessage("Write the reply to the customer."), HumanMessage(prompt + "Write the reply.")])
        who = reply.response_metadata["provider"]
        return {"draft": str(reply.content), "drafts": n, "trace": [f"draft #{n}   {who:<15} {reply.content}"]}

    async def verify(state: State) -> State:
        n = state["drafts"]
        reply = await verify_llm.ainvoke([
            SystemMessage("Check a customer reply against the research notes."),
            HumanMessage(f"Research notes: {state['notes']}\nDraft reply: {state['draft']}\n"
                         "What refund amount should this reply state? Answer with the amount."),
        ])
        agreement = reply.response_metadata["agreement"]
        if agreement is None:  # the step is not verified: nothing to loop on
            return {"verdict": "unchecked", "trace": [f"verify #{n}  no agreement signal (step has no verify:)"]}
        votes = ", ".join(f"{v['provider']}: {v['answer']!r}" for v in agreement["agreeing"] + agreement["dissenting"])
        head = f"verify #{n}  {agreement['decision']} score={agreement['score']:.2f} ({votes})"
        # The step's validator judged each member's answer first: an invalid one did not vote.
        invalid = "; ".join(f"{v['provider']} broke {v['rule']} ({v['message']})" for v in reply.response_metadata["validation"])
        if invalid:
            head += f"; invalid: {invalid}"
        if agreement["decision"] != "agreed":
            feedback = (f"the verify panel did not agree on the refund amount ({votes}{'; ' + invalid if invalid else ''}); "
                        "state the amount from the research notes.")
            return {"verdict": agreement["decision"], "feedback": feedback, "trace": [f"{head} -> back to draft"]}
        # The plain check no rule on the panel's answers can make: the agreed amount is in the draft.
        agreed = amounts(agreement["agreeing"][0]["answer"]) if agreement["agreeing"] else set()
        if not agreed or not agreed & amounts(state["draft"]):
            feedback = f"the panel agreed on {reply.content!r} but the draft does not state that amount."
            return {"verdict": "disagreed", "feedback": feedback, "trace": [f"{head}; check failed: amount missing -> back to draft"]}
        return {"verdict": "agreed", "feedback": "", "trace": [f"{head}; check ok: the draft states {min(agreed)} -> done"]}

    def after_verify(state: State) -> str:
        if state["verdict"] in ("disagreed", "inconclusive") and state["drafts"] < MAX_DRAFTS:
            return "draft"
        return END

    graph = StateGraph(State)
    graph.add_node("research", research)
    graph.add_node("draft", draft)
    graph.add_node("verify", verify)
    graph.add_edge(START, "research")
    graph.add_edge("research", "draft")
    graph.add_edge("draft", "verify")
    graph.add_conditional_edges("verify", after_verify, ["draft", END])
    return graph.compile()


async def run(config: Path, ticket: str = TICKET) -> State:
    """Run the pipeline once on `config` and return the final state."""
    async with Router(config) as router:
        graph = build_graph(router)
        return await graph.ainvoke({"ticket": ticket, "drafts": 0, "trace": []})  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline, print its trace and the outcome; 0 when it ended agreed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help=f"Crosswalk config (default: {CONFIG.name} beside this file)")
    args = parser.parse_args(argv)
    final = asyncio.run(run(args.config))
    for line in final["trace"]:
        print(line)
    revisions = final["drafts"] - 1
    print(f"result: {final['verdict']} after {final['drafts']} draft(s), {revisions} revision(s)")
    print(f"reply: {final['draft']}")
    return 0 if final["verdict"] == "agreed" else 1


if __name__ == "__main__":
    sys.exit(main())
