"""The pure parts of mid-stream recovery (router/resume.py): the prefix-skipping matcher,
the continuation request, the choice of resume mode, what is never continued as prose."""

from __future__ import annotations

import pytest

from crosswalk.policies.config import ProviderConf
from crosswalk.providers.base import stream_text
from crosswalk.router.resume import Diverged, PrefixSkipper, continuation_body, continued, not_prose, plan


def chunk(content: str | None = None, *, role: bool = False, finish: str | None = None, **delta: object) -> dict:
    d: dict = dict(delta)
    if role:
        d["role"] = "assistant"
    if content is not None:
        d["content"] = content
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def text_of(chunks: list[dict]) -> str:
    return stream_text(chunks)


def test_the_skipper_holds_the_reproduced_prefix_and_passes_the_rest_cut_mid_chunk():
    skipper = PrefixSkipper("The refund is")
    out = []
    for c in (chunk("", role=True), chunk("The"), chunk(" refund"), chunk(" is $42"), chunk(".99"), chunk(finish="stop")):
        out += skipper.feed(c)
    assert text_of(out) == " $42.99" and out[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("role" not in c["choices"][0]["delta"] for c in out)


def test_the_skipper_passes_a_chunk_that_ends_exactly_at_the_prefix_only_with_a_finish():
    skipper = PrefixSkipper("ab")
    assert skipper.feed(chunk("ab")) == [] and skipper.done
    assert text_of(skipper.feed(chunk("c"))) == "c"


@pytest.mark.parametrize("pieces, said", [
    (["The", " refund was"], "differs from the delivered text at character 11"),
    (["The refunds"], "differs from the delivered text at character 10"),
])
def test_the_skipper_reports_where_a_restart_diverged(pieces, said):
    skipper = PrefixSkipper("The refund is")
    with pytest.raises(Diverged, match=said):
        for p in pieces:
            skipper.feed(chunk(p))


def test_a_restart_that_ends_early_or_calls_a_tool_diverges():
    with pytest.raises(Diverged, match="ended after 3 of the 13"):
        skipper = PrefixSkipper("The refund is")
        skipper.feed(chunk("The"))
        skipper.feed(chunk(finish="stop"))
    with pytest.raises(Diverged, match="tool call"):
        PrefixSkipper("The").feed(chunk(tool_calls=[{"index": 0}]))


def test_a_continuation_drops_its_role_chunk_and_keeps_the_rest():
    assert continued(chunk("", role=True, refusal=None)) is None
    assert continued(chunk(" more", role=True))["choices"][0]["delta"] == {"content": " more"}
    assert continued(chunk(" more"))["choices"][0]["delta"] == {"content": " more"}


def test_the_continuation_request_with_and_without_prefill():
    body = {"messages": [{"role": "user", "content": "Q?"}], "temperature": 0.3, "tools": []}
    with_prefill = continuation_body(body, "Half an", prefill=True, prompt="go on")
    assert with_prefill["messages"][-1] == {"role": "assistant", "content": "Half an"}
    assert with_prefill["temperature"] == 0.3 and with_prefill["tools"] == []
    without = continuation_body(body, "Half an", prefill=False, prompt="Continúa.")
    assert without["messages"][-2:] == [{"role": "assistant", "content": "Half an"}, {"role": "user", "content": "Continúa."}]
    assert body["messages"] == [{"role": "user", "content": "Q?"}]  # the caller's request is untouched


def _conf(name: str, model: str, *, prefill: bool = False) -> ProviderConf:
    return ProviderConf(name=name, kind="openai", model=model, vendor=name, family=model, prefill=prefill)


@pytest.mark.parametrize("mode, fallback, temperature, way", [
    ("auto", _conf("b", "m1"), 0, "restart"),  # same model, deterministic: regenerate and skip
    ("auto", _conf("b", "m1"), 0.7, "continue-user"),  # sampled: a restart would not reproduce it
    ("auto", _conf("b", "m2", prefill=True), 0, "continue-prefill"),
    ("continue", _conf("b", "m1"), 0, "continue-user"),
    ("restart", _conf("b", "m2"), 0.7, "restart"),
])
def test_the_resume_mode_for_each_fallback(mode, fallback, temperature, way):
    assert plan(mode, _conf("a", "m1"), fallback, {"temperature": temperature}) == way


def test_tool_calls_structured_output_and_several_choices_are_not_prose():
    assert "tool call" in not_prose([chunk(tool_calls=[{"index": 0, "function": {"arguments": "{"}}])], {})
    assert "structured" in not_prose([chunk("{\"a\":")], {"response_format": {"type": "json_schema"}})
    assert "several choices" in not_prose([chunk("x")], {"n": 2})
    assert not_prose([chunk("plain text")], {"response_format": {"type": "text"}}) is None
