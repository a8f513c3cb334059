"""The pure parts of mid-stream recovery (router/resume.py): the seam hold,
the continuation request, the choice of resume mode, what is never continued as prose."""

from __future__ import annotations

import pytest

from crosswalk.policies.config import ProviderConf
from crosswalk.providers.base import stream_text
from crosswalk.router.resume import Diverged, SeamHold, continuation_body, continued, not_prose, plan


def chunk(content: str | None = None, *, role: bool = False, finish: str | None = None, **delta: object) -> dict:
    d: dict = dict(delta)
    if role:
        d["role"] = "assistant"
    if content is not None:
        d["content"] = content
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def text_of(chunks: list[dict]) -> str:
    return stream_text(chunks)


def test_a_verbatim_restart_is_held_then_only_the_rest_passes_cut_mid_chunk():
    hold = SeamHold("The refund is", restart_only=True)
    out = []
    for c in (chunk("", role=True), chunk("The"), chunk(" refund"), chunk(" is $42"), chunk(".99"), chunk(finish="stop")):
        out += hold.feed(c)
    assert text_of(out) == " $42.99" and out[-1]["choices"][0]["finish_reason"] == "stop"
    assert hold.seam.outcome == "restarted"


def test_a_continuation_is_held_for_the_window_then_passes_whole():
    hold = SeamHold("The answer", restart_only=False)
    words = [" is", " forty", " two,", " as", " the", " book"]
    released = [hold.feed(chunk(w)) for w in words]
    assert released[:-1] == [[]] * 5  # held until the sixth word
    assert text_of(released[-1]) == "".join(words) and hold.seam.outcome == "resumed"
    assert text_of(hold.feed(chunk(" says."))) == " says."  # after the verdict, chunks pass at once


def test_a_repeated_tail_is_trimmed_and_a_short_answer_is_decided_at_its_finish():
    hold = SeamHold("It is cached. The cache expires", restart_only=False)
    out = hold.feed(chunk(" The cache expires")) + hold.feed(chunk(" hourly.", finish="stop"))
    assert text_of(out) == " hourly." and hold.seam.outcome == "trimmed"


@pytest.mark.parametrize("pieces, said", [
    (["The", " refund was"], "differs from the delivered text at character 11"),
    (["The refunds"], "differs from the delivered text at character 10"),
])
def test_a_restart_request_accepts_only_a_verbatim_restart(pieces, said):
    hold = SeamHold("The refund is", restart_only=True)
    with pytest.raises(Diverged, match=said):
        for p in pieces:
            hold.feed(chunk(p))


def test_a_restart_that_ends_early_a_tool_call_or_a_paraphrase_is_not_trusted():
    hold = SeamHold("The refund is", restart_only=False)
    hold.feed(chunk("The"))
    with pytest.raises(Diverged, match="ended after reproducing 3 of the 13"):
        hold.feed(chunk(finish="stop"))
    with pytest.raises(Diverged, match="tool call"):
        SeamHold("The", restart_only=False).feed(chunk(tool_calls=[{"index": 0}]))
    with pytest.raises(Diverged, match="other words"):
        SeamHold("The", restart_only=False).feed(chunk("Forty-two is the answer."))


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
