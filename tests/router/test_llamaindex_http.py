"""LlamaIndex's `OpenAILike` with its defaults (it calls the legacy `/v1/completions`) and
with `is_chat_model=True`, against a real `crosswalk serve` over loopback fake vendors,
failover included. LlamaIndex needs openai<3 and the test environment has openai 3 (the
Agents SDK, pydantic-ai), so the client runs in the side environment `make test` builds
(tests/side_env.py): tests/router/llamaindex_client.py in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakevendor import error
from tests.router.proxy_harness import ProxyProcess
from tests.side_env import OFFLINE, side_python

ROOT = Path(__file__).resolve().parents[2]
KEY = "llamaindex-key-0123456789"
UNAVAILABLE = {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}


async def run_side(*args: str) -> dict[str, Any]:
    """Runs `args` with the side environment's python; its last stdout line, as JSON."""
    proc = await asyncio.create_subprocess_exec(  # async: the fake vendors answer on this loop
        str(side_python("llamaindex")), *args, cwd=ROOT, env={**os.environ, **OFFLINE},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, f"{out.decode()}\n{err.decode()}"
    return json.loads(out.decode().splitlines()[-1])


@pytest.mark.timeout(90)
@pytest.mark.xdist_group("llamaindex")  # with the docs' LlamaIndex sample: the side env's modules compile once
async def test_openai_like_completes_streams_chats_and_fails_over(fake_vendor: Any, tmp_path: Path) -> None:
    side_python("llamaindex")  # skips before anything starts when the side env was never built
    primary, down, secondary = [await fake_vendor(name) for name in ("primary", "down", "secondary")]
    down.always(error(503, UNAVAILABLE))
    cfg = tmp_path / "llamaindex.yaml"
    cfg.write_text("providers:\n" + "".join(
        f"  {v.name}: {{kind: openai, model: m-{v.name}, base_url: '{v.base_url}', vendor: {v.name}}}\n" for v in (primary, down, secondary))
        + "steps:\n  draft: {providers: [primary, secondary]}\n  fallback: {providers: [down, secondary]}\n"
        + f"proxy: {{api_keys: [{KEY}]}}\n")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    try:
        got = await run_side(str(ROOT / "tests" / "router" / "llamaindex_client.py"), proxy.url + "/v1", KEY)
    finally:
        await asyncio.to_thread(proxy.stop)
    assert got["openai"].startswith("2.") and got["is_chat_model"] is False  # LlamaIndex's own, its defaults
    answer = "Answer from primary: the refund is $42.99."
    assert got["complete"] == answer
    assert "".join(got["stream_complete"]) == answer and len(got["stream_complete"]) > 1  # really streamed
    assert got["chat"] == answer
    assert "".join(got["stream_chat"]) == answer and len(got["stream_chat"]) > 1
    assert got["fallback_complete"] == got["fallback_stream_complete"] == "Answer from secondary: the refund is $42.99."
    assert got["requests"] == [f"POST /v1/{path} 200" for path in ("completions",) * 2 + ("chat/completions",) * 2 + ("completions",) * 2]
    assert down.count >= 1 and {c.path for c in down.calls} == {"/v1/chat/completions"}
    # what the vendor got: /v1/completions translated (the prompt as one user message), chat as it was
    assert [c.path for c in primary.calls] == ["/v1/chat/completions"] * 4
    assert [c.body["messages"] for c in primary.calls] == [[{"role": "user", "content": "Say hi"}]] * 4
    assert [c.body.get("stream", False) for c in primary.calls] == [False, True, False, True]
    assert all(c.body["model"] == "m-primary" for c in primary.calls)
