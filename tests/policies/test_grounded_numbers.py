"""The `grounded: numbers` validator, pure: its labelled cases at the published precision and
recall (held-out part), the config it reads (typed, errors naming the path and the fix), and
what it leaves alone (years, dates, ids, list markers, small counts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.grounded_numbers import GroundedRule, amounts
from crosswalk.policies.parse import parse_config
from crosswalk.policies.validators import Validators
from tests.policies.grounded_eval import decide, labelled, score

# docs/validators.md publishes these (tests/policies/grounded_eval.py).
PUBLISHED_HELD_PRECISION = 1.0
PUBLISHED_HELD_RECALL = 0.969
MARGIN = 0.001

CONTEXT = ["order 8812: paid $42.99 on 2024-03-03; shipping $5.00; discount 10%"]


@pytest.fixture(scope="module")
def tallies():  # type: ignore[no-untyped-def]
    return score(labelled())[0]


def test_held_out_cases_meet_the_published_precision_and_recall(tallies) -> None:  # type: ignore[no-untyped-def]
    held = tallies["held"]
    assert held.tp + held.fp + held.fn + held.tn >= 70 and held.tp + held.fn >= 30
    assert held.precision >= PUBLISHED_HELD_PRECISION - MARGIN
    assert held.recall >= PUBLISHED_HELD_RECALL - MARGIN


def test_calibration_cases_are_all_right(tallies) -> None:  # type: ignore[no-untyped-def]
    cal = tallies["cal"]
    assert cal.fp == 0 and cal.fn == 0


def test_labelled_set_is_well_formed() -> None:
    seen: set[str] = set()
    for case in labelled():
        assert case["id"] not in seen
        seen.add(case["id"])
        assert case["expect"] in ("grounded", "ungrounded") and case["split"] in ("cal", "held") and case["why"]
        assert set(case) <= {"id", "split", "system", "tool", "user", "answer", "derive", "expect", "why"}


@pytest.mark.parametrize(("answer", "flagged"), [
    ("Your refund is $42.99.", False),
    ("Your refund is $4299.", True),  # the decimal dropped
    ("Your refund is $42.90.", True),  # a near miss at the answer's own precision
    ("You paid about $43.", False),  # rounded: the answer's last digit is the ones
    ("Your refund is €42.99.", True),  # another currency
    ("In 2024 you paid $42.99, order #8812.", False),  # a year and an id are no amounts
    ("1. Open the app\n2. Tap Refund\n3. Confirm $42.99", False),  # list markers
    ("There are two ways to get $42.99 back.", False),  # a small count
    ("The discount was 10 percent.", False),
    ("The discount was 10 per month.", True),  # a bare 10 is a count, but per month makes it a rate
    ("Your total is $47.99.", True),  # a sum: only with derive: [sum]
    ('{"order": 8812, "refund": 42.99}', False),  # JSON restating the order id and the amount
    ("Refund 42.99 for 8812", False),  # the id restated bare
    ("Refund 42.99 for 8821", True),  # an id's digits transposed, stated bare: an amount nowhere
])
def test_rule_without_derivations(answer: str, flagged: bool) -> None:
    assert (GroundedRule("g").check(answer, CONTEXT) is not None) is flagged


def test_declared_derivations_allow_exactly_what_they_name() -> None:
    everything = GroundedRule("g", frozenset({"sum", "percent"}))
    assert everything.check("Your total is $47.99.", CONTEXT) is None  # 42.99 + 5.00
    assert everything.check("After the discount you paid $38.69.", CONTEXT) is None  # 42.99 less 10 %
    assert everything.check("Your total is $48.99.", CONTEXT) is not None
    assert GroundedRule("g", frozenset({"units"})).check("It is 3.1 miles.", ["route: 5 km"]) is None
    assert GroundedRule("g").check("It is 3.1 miles.", ["route: 5 km"]) is not None


def test_the_message_names_the_amounts_and_the_derivations() -> None:
    message = GroundedRule("g", frozenset({"sum"})).check("Pay $4299 or 12.5% or 7 kg or 11 m or 13 s.", CONTEXT)
    assert message == ("the answer states USD 4299, 12.5%, 7 kg and 2 more, found nowhere in the context "
                       "(nor derived by sum)")


def test_an_answer_without_amounts_passes_whatever_the_context() -> None:
    assert GroundedRule("g").check("Your order has shipped.", []) is None
    assert amounts("Step 3 of 5, version 2.1, on 3 March 2024") == []  # counts, an id, a date
    assert [a.value for a in amounts("Step 3 of 5 costs $12")] == [12]


def test_the_validators_pass_the_context_only_to_the_grounded_rule() -> None:
    rules = Validators((GroundedRule("grounded"),))
    assert rules.reads_context
    assert [v.rule for v in rules.check("Refund: $4299", context=CONTEXT)] == ["grounded"]
    assert rules.check("Refund: $42.99", context=CONTEXT) == []
    assert [v.rule for v in rules.check("Refund: $42.99")] == ["grounded"]  # no context: nothing is grounded


def _parse(validate: str):  # type: ignore[no-untyped-def]
    text = ("providers:\n  a: {kind: simulated, model: m}\nsteps:\n  refund:\n    providers: [a]\n"
            + "".join(f"    {line}\n" for line in validate.strip().splitlines()))
    return parse_config(text, env={})


def test_config_builds_the_rule_with_its_derivations() -> None:
    step = _parse("validate:\n  - grounded: numbers\n    derive: [sum, units]\non_invalid: flag").steps["refund"]
    assert step.validate is not None and step.validate.names == ["grounded"] and step.on_invalid == "flag"
    assert step.validate.rules[0] == GroundedRule("grounded", frozenset({"sum", "units"}))


@pytest.mark.parametrize(("validate", "error"), [
    ("validate:\n  - grounded: words\n", "steps.refund.validate[0].grounded: unknown value (one of: numbers)"),
    ("validate:\n  - grounded: numbers\n    derive: [sum, guess]\n",
     "steps.refund.validate[0].derive[1]: unknown value (one of: sum, product, percent, units)"),
    ("validate:\n  - max_chars: 9\n    derive: [sum]\n",
     "steps.refund.validate[0]: derive applies to 'grounded: numbers' only; remove it or add 'grounded: numbers'"),
    ("validate:\n  - grounded: numbers\n    regex: a\n",
     "steps.refund.validate[0]: give exactly one of schema, number, regex, max_chars or grounded (one rule per list item)"),
])
def test_config_errors_name_the_path_and_the_fix(validate: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(validate)
    assert error in str(info.value)


def test_decide_reads_the_context_from_a_real_request_shape() -> None:
    case = {"tool": "refund_due: 19.95 USD", "user": "Refund?", "answer": "You get $19.95.", "expect": "grounded"}
    assert decide(case) == "grounded"
    assert decide({**case, "answer": "You get $1,995."}) == "ungrounded"


def test_the_documented_example_parses_and_checks() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "validators.md").read_text()
    section = text[text.index("## Grounded numbers"):]
    start = section.index("```yaml") + 7
    example = yaml.safe_load(section[start:section.index("```", start)])
    spec = ("providers:\n  alpha-mini: {kind: simulated, model: m-a}\n  beta-pro: {kind: simulated, model: m-b}\n"
            + yaml.safe_dump({"steps": example["steps"]}))
    step = parse_config(spec, env={}, source="docs/validators.md").steps["refund-answer"]
    assert step.validate is not None and step.on_invalid == "flag"
    assert step.validate.check("Refund: $47.99", context=CONTEXT) == []  # 42.99 + 5.00, derive: sum
    assert [v.rule for v in step.validate.check("Refund: $4299", context=CONTEXT)] == ["grounded"]
