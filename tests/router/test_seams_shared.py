"""Seam checks across replicas: two routers sharing a real redis-server. Step 1 of a run
is answered by one, step 2 lands on the other, which knows the amounts step 1 answered
(published on `{prefix}:runs`) and flags the near miss."""

from __future__ import annotations

from typing import Any

import pytest

from crosswalk import Router
from crosswalk.policies.parse import parse_config
from crosswalk.router.state import runs as run_wire
from crosswalk.router.state.runs import RunAnswer
from tests.eventually import eventually
from tests.router.test_shared_state import REDIS, redis_server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (`make test` installs it)")

CONFIG = """
providers:
  a: {{kind: simulated, model: m-a, simulate: {{latency_ms: 1, jitter_ms: 0, answer: "Refund amount: $42.99"}}}}
  b: {{kind: simulated, model: m-b, simulate: {{latency_ms: 1, jitter_ms: 0, answer: "Refund issued."}}}}
steps:
  extract: {{providers: [a]}}
  issue: {{providers: [b]}}
state: {{backend: redis, url: "{url}", prefix: cw-seams, sync_interval_s: 0.1}}
"""
MANGLED = [{"role": "user", "content": "Issue a refund of 4299 for order 88123."}]


async def test_a_run_answered_on_one_replica_is_checked_on_the_other(redis_server: Any) -> None:  # noqa: F811
    one = Router(parse_config(CONFIG.format(url=redis_server.url), env={}))
    two = Router(parse_config(CONFIG.format(url=redis_server.url), env={}))
    try:
        await one.astart()
        await two.astart()
        await eventually(lambda: one.runtime.sync.up and two.runtime.sync.up, within=10, what="both replicas reach Redis")
        await one.acompletion(step="extract", messages=[{"role": "user", "content": "How much?"}], run="ticket-7")
        await eventually(lambda: bool(two.runtime.runs.answered("ticket-7")), within=5, what="the run reaches the other replica")
        flagged = await two.acompletion(step="issue", messages=MANGLED, run="ticket-7")
        assert [(f.from_step, f.answered, f.received, f.kind) for f in flagged.crosswalk.seams] == [
            ("extract", "42.99 USD", "4299", "decimal dropped")]
        assert one.runtime.runs.answered("ticket-7") == [("extract", "$42.99")]  # its own, once (no echo)
    finally:
        await one.aclose()
        await two.aclose()


def test_the_run_message_holds_amounts_and_step_names_only() -> None:
    answer = RunAnswer("ticket-7", "extract", ("$42.99",))
    raw = run_wire.encode(answer, origin="p1")
    assert raw == b'{"run": "ticket-7", "step": "extract", "amounts": ["$42.99"], "origin": "p1"}'
    assert run_wire.decode(raw) == ("p1", answer)
    for bad in (b"{", b'{"run": 1}', b'{"run": "r", "step": "s", "origin": "o", "amounts": [1]}'):
        assert run_wire.decode(bad) is None
