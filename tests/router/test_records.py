"""Records carry enums (`FailureClass`, `Decision`) that read exactly as the strings they
replaced: in headers, log lines, JSON and metric labels."""

from __future__ import annotations

import dataclasses
import json

from crosswalk.policies.agreement import Decision
from crosswalk.providers.classify import FailureClass
from crosswalk.providers.jsonwire import dumps
from crosswalk.router.errors import attempts_text
from crosswalk.router.records import AgreementRecord, Attempt, DecisionRecord


def test_an_attempt_with_a_failure_class_reads_as_the_plain_string():
    enum_attempt = Attempt("a", FailureClass.TIMEOUT, 0.5, None, "no first token")
    plain = Attempt("a", "timeout", 0.5, None, "no first token")
    assert enum_attempt.short() == plain.short() == "a:timeout"
    assert attempts_text([enum_attempt]) == attempts_text([plain]) == "a: timeout (no first token)"
    assert dumps(dataclasses.asdict(enum_attempt)) == dumps(dataclasses.asdict(plain))
    assert json.dumps(dataclasses.asdict(enum_attempt)) == json.dumps(dataclasses.asdict(plain))
    assert DecisionRecord("s", attempts=[enum_attempt]).summary() == DecisionRecord("s", attempts=[plain]).summary()


def test_an_agreement_decision_reads_as_the_plain_string():
    for decision in Decision:
        enum_record = AgreementRecord(decision, 1.0, "exact", "2 of 3")
        plain = AgreementRecord(decision.value, 1.0, "exact", "2 of 3")
        assert enum_record.header() == plain.header() and enum_record.header().startswith(f"{decision.value}; ")
        assert dumps(dataclasses.asdict(enum_record)) == dumps(dataclasses.asdict(plain))
    assert f"{Decision.PENDING}" == "pending"
