"""The caller-facing error tree: one tree under `CrosswalkError`, drawn in
`crosswalk.router.errors`, and the status the proxy answers each error with."""

from __future__ import annotations

import json

import pytest

import crosswalk
from crosswalk.policies import errors as low
from crosswalk.router import errors
from crosswalk.router.errors import (
    AllProvidersFailed,
    ConfigError,
    CrosswalkError,
    DeadlineExceeded,
    InvalidOutput,
    InvalidRequest,
    NoEligibleProvider,
    RateLimited,
    SeamBroken,
    StreamInterrupted,
    UnknownStep,
    UpstreamRejected,
    VerificationFailed,
)
from crosswalk.router.proxy import crosswalk_error
from crosswalk.router.records import AgreementRecord, Attempt, DecisionRecord, InvalidAnswer, Vote

ATTEMPT = Attempt("a", "transient", 0.01, 503)


def _disagreement() -> DecisionRecord:
    agreement = AgreementRecord("disagreed", 0.5, "exact", "2 of 2", agreeing=[Vote("a", "1")], dissenting=[Vote("b", "2")])
    return DecisionRecord(step="s", provider="a", attempts=[ATTEMPT], agreement=agreement)


# Every public error, built as the router builds it, with the status the proxy must answer.
CASES = [
    (CrosswalkError("boom", step="s"), 500),
    (ConfigError(["steps.s: bad"], source="c.yaml"), 500),
    (UnknownStep("no step 'x'", step="x"), 404),
    (InvalidRequest("body too deep", step="s"), 400),
    (NoEligibleProvider("none", step="s", retry_after_s=2.5), 503),
    (RateLimited("all limited", step="s", attempts=[ATTEMPT], retry_after_s=None), 429),
    (AllProvidersFailed("all failed", step="s", attempts=[ATTEMPT]), 502),
    (DeadlineExceeded("deadline", step="s", attempts=[ATTEMPT]), 504),
    (UpstreamRejected("too long", step="s", attempts=[ATTEMPT], status=422, failure_class="context_length", code="context_length_exceeded"), 422),
    (StreamInterrupted("cut", step="s", attempts=[ATTEMPT]), 502),
    (VerificationFailed("disagreed", step="s", record=_disagreement()), 409),
    (InvalidOutput("broke premium-band", step="s", attempts=[Attempt("a", "invalid_output", 0.01)]), 422),
    (SeamBroken("4299 received where extract answered 42.99", step="s", record=DecisionRecord(step="s")), 422),
]


def _public_errors() -> list[type[BaseException]]:
    found = [getattr(crosswalk, name) for name in crosswalk.__all__]
    return [obj for obj in found if isinstance(obj, type) and issubclass(obj, BaseException)]


def test_every_public_error_is_a_crosswalk_error_and_is_drawn_in_the_tree():
    public = _public_errors()
    assert {type(err) for err, _ in CASES} == set(public)
    doc = errors.__doc__ or ""
    for cls in public:
        assert issubclass(cls, CrosswalkError)
        assert getattr(errors, cls.__name__) is cls, f"{cls.__name__} is importable from crosswalk.router.errors"
        assert f" {cls.__name__} " in doc, f"{cls.__name__} is drawn in crosswalk.router.errors' docstring"


def test_rate_limited_and_no_eligible_provider_are_siblings():
    assert not issubclass(RateLimited, NoEligibleProvider)
    assert not issubclass(NoEligibleProvider, RateLimited)
    assert RateLimited.__bases__ == (CrosswalkError,) and NoEligibleProvider.__bases__ == (CrosswalkError,)


def test_config_and_verification_errors_join_the_tree():
    # The base lives low (the pure parser raises ConfigError); router and crosswalk re-export it.
    assert ConfigError is low.ConfigError is crosswalk.ConfigError
    assert CrosswalkError is low.CrosswalkError is crosswalk.CrosswalkError
    assert VerificationFailed is crosswalk.VerificationFailed
    assert issubclass(ConfigError, ValueError), "ConfigError stays a ValueError"
    err = ConfigError(["a: one", "b: two"], source="c.yaml")
    assert (str(err), err.problems, err.source) == ("c.yaml: a: one\n  b: two", ["a: one", "b: two"], "c.yaml")


def test_optional_fields_live_on_the_base_with_none_defaults():
    err = AllProvidersFailed("x", step="s")
    assert (err.code, err.retry_after_s, err.record) == (None, None, None)
    assert InvalidRequest("x").code == "invalid_request_body"
    assert RateLimited("x", retry_after_s=3.0).retry_after_s == 3.0
    record = _disagreement()
    assert VerificationFailed("x", step="s", record=record).record is record


@pytest.mark.parametrize(("err", "status"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_the_proxy_answers_each_error_with_its_status(err, status):
    resp = crosswalk_error(err)
    body = json.loads(resp.body)
    assert resp.status == status == err.status_code
    assert body["error"]["message"] == err.message
    assert body["error"]["code"] == (err.code or err.error_type)
    if isinstance(err, UnknownStep):
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == "model"
    else:
        assert body["error"]["type"] == err.error_type


def test_the_proxy_says_when_to_come_back():
    assert crosswalk_error(NoEligibleProvider("x", step="s", retry_after_s=2.5)).headers["retry-after"] == "3"
    assert crosswalk_error(NoEligibleProvider("x", step="s")).headers["retry-after"] == "1"
    stuck = crosswalk_error(NoEligibleProvider("x", step="s", retryable=False)).headers
    assert "retry-after" not in stuck and stuck["x-should-retry"] == "false"
    # A sibling, not a subclass, yet answered the same way: a rate limit always ends.
    assert crosswalk_error(RateLimited("x", step="s", retry_after_s=7.2)).headers["retry-after"] == "8"
    assert crosswalk_error(RateLimited("x", step="s")).headers["retry-after"] == "1"
    assert "retry-after" not in crosswalk_error(AllProvidersFailed("x", step="s")).headers


def test_a_failed_verification_shows_its_panel():
    resp = crosswalk_error(VerificationFailed("x", step="s", record=_disagreement()))
    assert resp.headers["x-crosswalk-agreement"].startswith("disagreed; score=0.50")
    dissenting = json.loads(resp.body)["crosswalk"]["agreement"]["dissenting"]
    assert dissenting == [{"provider": "b", "answer": "2", "similarity": None, "reason": "", "against": None}]


def test_an_invalid_output_names_the_rule_and_the_provider():
    record = DecisionRecord(step="s", attempts=[Attempt("a", "invalid_output", 0.01)],
                            validation=[InvalidAnswer("a", "premium-band", "'premium' is 84000, above max 5000", "fail")])
    resp = crosswalk_error(InvalidOutput("step 's': the answer from a broke premium-band", step="s", attempts=record.attempts, record=record))
    body = json.loads(resp.body)
    assert resp.status == 422 and body["error"]["code"] == "invalid_output"
    assert resp.headers["x-crosswalk-validation"] == "a:premium-band:fail"
    assert resp.headers["x-crosswalk-attempts"] == "a:invalid_output"
    assert body["crosswalk"]["validation"] == [
        {"provider": "a", "rule": "premium-band", "message": "'premium' is 84000, above max 5000", "action": "fail"}]


# Whether a client retry can help, per final error (the x-should-retry table in docs/proxy.md).
SHOULD_RETRY = {
    "RateLimited": "true", "NoEligibleProvider": "true",  # both lapse: come back after Retry-After
    "AllProvidersFailed": "false", "DeadlineExceeded": "false", "StreamInterrupted": "false",  # failed over already
    "UpstreamRejected": "false", "InvalidRequest": "false", "UnknownStep": "false",  # the request itself
    "VerificationFailed": "false", "InvalidOutput": "false", "SeamBroken": "false", "ConfigError": "false", "CrosswalkError": "false",
}


@pytest.mark.parametrize(("err", "status"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_every_final_error_says_whether_a_client_retry_can_help(err, status):
    headers = crosswalk_error(err).headers
    assert headers["x-should-retry"] == SHOULD_RETRY[type(err).__name__]
    assert ("retry-after" in headers) == (headers["x-should-retry"] == "true")
    assert errors.client_should_retry(err) is (headers["x-should-retry"] == "true")


def test_no_eligible_provider_until_the_config_changes_says_do_not_retry():
    assert crosswalk_error(NoEligibleProvider("x", step="s", retryable=False)).headers["x-should-retry"] == "false"
    assert crosswalk_error(NoEligibleProvider("x", step="s", retry_after_s=40)).headers["x-should-retry"] == "true"
