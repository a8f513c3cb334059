"""A caller's own words are never evidence against a provider.

Vendors echo the request in their errors: OpenAI answers an unknown body field with `400
Unrecognized request argument supplied: <field>`, others quote the prompt. For every
REGULATORY / AUTH / QUOTA rule of the classifier, a fake vendor on loopback echoes the
phrase that rule reads (as a field name, and inside message content) and the real
adapter reads the answer: the echo must not get the rule's class, while the vendor's own
payload still does. The table is checked against the classifier's rules, so a new hard
rule without a row fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from crosswalk.providers import classify as classify_mod
from crosswalk.providers.base import ChatRequest
from crosswalk.providers import caller_text
from crosswalk.providers.caller_text import CallerText
from crosswalk.providers.classify import HARD, Classification, FailureClass, classify
from crosswalk.providers.errors import ProviderError
from crosswalk.providers.openai_wire import OpenAIWireProvider
from tests import fakevendor as fv

F = FailureClass
ASK = [{"role": "user", "content": "How much is the refund for order 1234?"}]
# An echoing error quoting the prompt, with a message that is about the request itself.
ECHO = {
    400: ("Invalid value for 'messages[0].content': '{content}'", "invalid_request_error"),
    404: ("No such file object referenced in the prompt '{content}'", "invalid_request_error"),
    429: ("Too many requests for the prompt '{content}'", "requests"),
}


def gemini(status: int, state: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": status, "message": message, "status": state}
    if details is not None:
        err["details"] = details
    return {"error": err}


@dataclass(frozen=True)
class HardRule:
    """One hard rule: the phrases it reads, the vendor's own payload that must still get
    its class, and the status an echo of those phrases arrives with."""

    name: str
    cls: FailureClass
    phrases: tuple[str, ...]
    own_status: int
    own_payload: dict[str, Any]
    echo_status: int
    echo_type: str | None = None  # None: the ECHO table's


RULES = [
    HardRule("region-block", F.REGULATORY, (
        "unsupported_country_region_territory", "Country, region, or territory not supported", "User location is not supported",
        "unsupported countries, regions, or territories", "not available in your country", "not available in your region",
        "region is not supported"), 403, fv.REGION_403, 400),
    HardRule("region-block-gemini-status", F.REGULATORY, ("User location is not supported",), 400,
             gemini(400, "FAILED_PRECONDITION", "User location is not supported for the API use."), 400, "INVALID_ARGUMENT"),
    HardRule("model-withdrawn-404", F.REGULATORY, (
        "deprecated", "decommissioned", "withdrawn", "discontinued", "no longer available", "no longer supported",
        "no longer served", "has been retired", "model_not_found", "does not exist or you do not have access",
        "reached the end of its life", "is not found for API version"), 404, fv.MODEL_WITHDRAWN_404, 404),
    HardRule("model-withdrawn-400", F.REGULATORY, ("model has been decommissioned", "model is deprecated", "model was withdrawn",
                                                    "model is no longer supported", "model has been retired"), 400,
             {"error": {"message": "The model `mixtral-8x7b-32768` has been decommissioned and is no longer supported.",
                        "type": "invalid_request_error", "code": "model_decommissioned"}}, 400),
    HardRule("insufficient-quota-code", F.QUOTA, ("insufficient_quota",), 429, fv.INSUFFICIENT_QUOTA_429, 429),
    HardRule("quota-wording", F.QUOTA, (
        "exceeded your current quota", "quota exceeded", "billing", "spend limit", "credit balance", "out of credits"), 429,
        {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                   "type": "requests", "code": None}}, 429),
    HardRule("credit-balance-400", F.QUOTA, ("credit balance is too low", "billing_hard_limit_reached"), 400,
             {"type": "error", "error": {"type": "invalid_request_error",
                                         "message": "Your credit balance is too low to access the Anthropic API."}}, 400),
    HardRule("bad-key-400", F.AUTH, ("API key not valid", "api_key_invalid"), 400, gemini(
        400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]), 400),
]


async def _fail(vendor: fv.FakeVendor, body: dict[str, Any]) -> ProviderError:
    provider = OpenAIWireProvider(name="up", model="gpt-4o-mini", base_url=vendor.base_url, api_key="sk-loopback")
    try:
        with pytest.raises(ProviderError) as info:
            await provider.complete(ChatRequest(body))
    finally:
        await provider.aclose()
    return info.value


def _read(error: ProviderError, body: dict[str, Any]) -> FailureClass:
    return classify(error, caller=CallerText.of(body)).failure_class


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
async def test_an_echoed_phrase_never_gets_the_rules_class_and_the_vendors_own_payload_does(fake_vendor, rule: HardRule):
    vendor = await fake_vendor("echo")
    for phrase in rule.phrases:
        # An unknown field named after the phrase: OpenAI's 400 names it.
        body = {"messages": ASK, f"x_{phrase}": True}
        vendor.script(fv.echo_field())
        error = await _fail(vendor, body)
        assert phrase in error.message
        assert _read(error, body) is F.CLIENT, (phrase, error.evidence())
        # The phrase inside the prompt, quoted back in an error about the request.
        body = {"messages": [{"role": "user", "content": f"Summarise the memo: our plan says {phrase} for Q3."}]}
        template, type_ = ECHO[rule.echo_status]
        vendor.script(fv.echo_content(rule.echo_status, template, type_=rule.echo_type or type_))
        error = await _fail(vendor, body)
        assert phrase in error.message
        assert _read(error, body) is not rule.cls, (phrase, error.evidence())
        # Control: read as if nothing were the caller's, the same answer is the rule's
        # class (what the old classifier did), so the caller knowledge is what decides.
        assert classify(error).failure_class is rule.cls, (phrase, error.evidence())
    vendor.script(fv.error(rule.own_status, rule.own_payload))
    error = await _fail(vendor, {"messages": ASK})
    assert _read(error, {"messages": ASK}) is rule.cls, error.evidence()


async def test_a_400_naming_a_request_param_is_the_callers_whatever_it_says(fake_vendor):
    vendor = await fake_vendor("param")
    payload = {"error": {"message": "'deprecated' is not supported with this model.", "type": "invalid_request_error",
                         "param": "deprecated", "code": "unsupported_parameter"}}
    vendor.script(fv.error(400, payload))
    body = {"messages": ASK}
    error = await _fail(vendor, body)
    assert error.param == "deprecated"
    assert _read(error, body) is F.CLIENT


async def test_the_echoed_fields_from_the_issue_are_client_errors(fake_vendor):
    vendor = await fake_vendor("issue")
    vendor.always(fv.echo_field())
    for field in ("deprecated", "api_key_invalid", "x_unsupported_country_region_territory_hint"):
        body = {"messages": ASK, field: "on"}
        error = await _fail(vendor, body)
        assert error.message == f"Unrecognized request argument supplied: {field}"
        assert _read(error, body) is F.CLIENT
        # Even with nothing known of the caller, the vendor says it is about a request field.
        assert classify(error).failure_class is F.CLIENT


def test_every_hard_rule_that_reads_words_has_an_echo_row():
    for rule in classify_mod._RULES:
        if rule.failure_class not in HARD or rule.pattern is None:
            continue
        rows = [r for r in RULES if r.cls is rule.failure_class and any(rule.pattern.search(p) for p in r.phrases)]
        assert rows, f"no echo row for the {rule.failure_class.value} rule {rule.pattern.pattern!r}"


def test_a_phrase_the_caller_sent_cut_short_is_still_the_callers():
    body = {"messages": [{"role": "user", "content": "Is the gpt-4 model deprecated or decommissioned now? " * 3}]}
    # The vendor quotes the first 40 characters only.
    error = ProviderError("Invalid value for 'messages[0].content': 'Is the gpt-4 model deprecated or decommi...'",
                          status=400, code="invalid_value")
    assert classify(error, caller=CallerText.of(body)).failure_class is F.CLIENT
    assert classify(error).failure_class is F.REGULATORY  # the old reading


def test_free_text_hard_evidence_is_marked_unstructured_and_structured_is_not():
    body = {"messages": ASK}
    free = ProviderError("The model `m-1` has been decommissioned.", status=400)
    got = classify(free, caller=CallerText.of(body))
    assert got.failure_class is F.REGULATORY and not got.structured
    coded = ProviderError("The model `m-1` has been decommissioned.", status=400, code="model_decommissioned")
    assert classify(coded, caller=CallerText.of(body)).structured
    assert classify(ProviderError("nope", status=451)).structured
    assert classify(ProviderError("Access denied from unsupported countries, regions, or territories.", status=403)).structured


def test_caller_text_is_bounded_and_fingerprints_the_request():
    a = CallerText.of({"messages": ASK, "stream": True})
    assert a.fingerprint == CallerText.of({"messages": ASK}).fingerprint  # streamed or not: one request
    assert a.fingerprint != CallerText.of({"messages": [{"role": "user", "content": "another"}]}).fingerprint
    assert a.supplied("REFUND FOR ORDER") and a.supplied("messages") and not a.supplied("deprecated")
    assert CallerText.of({"messages": [{"role": "user", "content": "our region  is\n not supported"}]}).supplied(
        "Region is not supported")  # a vendor that collapses whitespace still quotes the caller
    assert not a.supplied("gpt-4o-mini") and CallerText.of({"model": "deprecated", "messages": ASK}).supplied("deprecated") is False
    # Past the bound nothing more is read, and then anything may be the caller's (fails safe).
    huge = CallerText.of({"messages": [{"role": "user", "content": "x" * (caller_text.MAX_CHARS + 1)}]})
    assert len(huge._corpus) <= caller_text.MAX_CHARS and not huge.complete and huge.supplied("deprecated")
    deep: dict = {"messages": ASK}
    for _ in range(caller_text.MAX_DEPTH + 2):
        deep = {"x": deep}
    assert not CallerText.of(deep).complete and CallerText.of({"messages": ASK}).complete


# --- Part of issue 23: no length, position or phrase makes an echo the vendor's words ---------


PAD = "lorem ipsum " * ((1 << 20) // 12 + 1)  # 1 MiB: the old bound of what was read


def _forge(field: str, *, pad: str = PAD, lead: str = "", deep: int = 0) -> dict:
    """A body the issue's attacker sends: padding, a prompt phrase, an unknown field,
    optionally nested `deep` levels down."""
    body: dict = {"messages": [{"role": "user", "content": lead + pad}]}
    inner: dict = body
    for _ in range(deep):
        inner["metadata_x"] = {}
        inner = inner["metadata_x"]
    inner[field] = True
    return body


@pytest.mark.parametrize("lead", ["", "unrecognized request argument ", "Unknown parameter. "])
@pytest.mark.parametrize("field", ["unsupported_country_region_territory", "deprecated", "model_not_found",
                                   "x_insufficient_quota", "api_key_invalid"])
async def test_padding_and_a_prompt_phrase_never_make_an_echoed_field_the_vendors(fake_vendor, field: str, lead: str):
    vendor = await fake_vendor("forge")
    vendor.always(fv.echo_field())
    body = _forge(field, lead=lead)
    error = await _fail(vendor, body)
    assert error.message == f"Unrecognized request argument supplied: {field}"
    got = classify(error, caller=CallerText.of(body), model="gpt-4o-mini")
    assert got.failure_class is F.CLIENT, (field, lead, got)


@pytest.mark.parametrize("where", ["past-the-bound", "too-deep"])
def test_free_text_from_a_body_not_read_whole_is_never_hard_evidence(where: str):
    # The vendor quotes the field without saying it is a field: only the caller text could
    # tell, and it was not read whole.
    if where == "past-the-bound":
        body = _forge("unsupported_country_region_territory", pad="x" * (caller_text.MAX_CHARS + 1))
    else:
        body = _forge("unsupported_country_region_territory", pad="", deep=caller_text.MAX_DEPTH + 2)
    caller = CallerText.of(body)
    assert not caller.complete
    for status in (400, 404, 403):
        error = ProviderError("Could not process 'unsupported_country_region_territory' (deprecated).", status=status)
        got = classify(error, caller=caller)
        assert got.failure_class is (F.AUTH if status == 403 else F.CLIENT), (status, got)
    # The vendor's structured fields still count, whatever the size of the body.
    coded = ProviderError("Country, region, or territory not supported", status=403, code="unsupported_country_region_territory")
    assert classify(coded, caller=caller) == Classification(F.REGULATORY)
