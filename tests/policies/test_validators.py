"""Output validators, pure: each rule type on real answer shapes, which number a band
reads, and every config mistake reported with its path and the fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from textwrap import dedent

import pytest

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.policies.validators import MaxCharsRule, NumberRule, RegexRule, SchemaRule, Validators, Violation

QUOTE_SCHEMA = {
    "type": "object",
    "required": ["premium", "currency"],
    "properties": {"premium": {"type": "number", "minimum": 0}, "currency": {"enum": ["USD", "EUR"]}},
}


# --- schema -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    '{"premium": 840, "currency": "USD"}',
    'Here is the quote:\n```json\n{"premium": 840.5, "currency": "EUR"}\n```\nThanks.',
    'Per the policy [1], the quote is {"premium": 840, "currency": "USD"}.',  # the citation is skipped
])
def test_schema_passes_json_found_as_the_json_comparator_finds_it(answer):
    assert SchemaRule("schema", QUOTE_SCHEMA).check(answer) is None


@pytest.mark.parametrize(("answer", "says"), [
    ('{"premium": "840", "currency": "USD"}', "premium: '840' is not of type 'number'"),
    ('{"premium": 840, "currency": "GBP"}', "currency: 'GBP' is not one of ['USD', 'EUR']"),
    ('{"premium": 840}', "(root): 'currency' is a required property"),
    ("The premium is $840 a year.", "no JSON object or array in the answer"),
    ('{"premium": NaN, "currency": "USD"}', "no JSON object or array in the answer"),  # strict JSON only
])
def test_schema_names_where_the_answer_breaks_it(answer, says):
    assert SchemaRule("schema", QUOTE_SCHEMA).check(answer) == says


def test_schema_paths_into_arrays():
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    assert SchemaRule("s", schema).check('{"items": [1, 2, "x"]}') == "items[2]: 'x' is not of type 'integer'"


# --- number -------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "answer", "value"), [
    (NumberRule("n", Decimal(100), Decimal(5000)), "Premium: $840 per year.", Decimal(840)),
    # Without a field: the first amount; a year, a date and an id are not amounts.
    (NumberRule("n", Decimal(100)), "In 2026, policy #10442 (issued 2026-03-02) costs $1,250.50.", Decimal("1250.50")),
    (NumberRule("n", Decimal(100)), "The premium is €1.250,50 per year.", Decimal("1250.50")),
    (NumberRule("n", Decimal(0)), "The deposit ($250) is due; the refund was ($42.99).", Decimal(250)),  # an aside stays positive
    # With a field: the JSON path when the answer holds it ...
    (NumberRule("n", Decimal(100), field="quote.items[1].premium"),
     '{"quote": {"items": [{"premium": 9}, {"premium": 812.5}]}}', Decimal("812.5")),
    (NumberRule("n", Decimal(100), field="premium"), '{"premium": "$812 / year"}', Decimal(812)),
    # ... else the amount labelled so in prose, wherever it stands.
    (NumberRule("n", Decimal(100), field="premium"), "Cover: $300,000. Deductible: $500. Premium: $812.", Decimal(812)),
    (NumberRule("n", Decimal(100), field="Premium"), "Cover: $300,000. Premium: $812.", Decimal(812)),
])
def test_which_number_a_band_reads(rule, answer, value):
    assert rule.pick(answer) == value


@pytest.mark.parametrize(("rule", "answer", "says"), [
    (NumberRule("band", Decimal(100), Decimal(5000), "premium"), "Premium: $84,000 per year.", "'premium' is 84000, above max 5000"),
    (NumberRule("band", Decimal(100), Decimal(5000)), "It costs $8.40 a year.", "the answer's number is 8.40, below min 100"),
    (NumberRule("band", Decimal(100), None, "premium"), "Cover: $300,000.", "no number for 'premium' in the answer"),
    (NumberRule("band", None, Decimal(10)), "I cannot quote that policy.", "no number in the answer"),
    (NumberRule("band", Decimal(0), None), "The balance is -$12.", "the answer's number is -12, below min 0"),
])
def test_a_band_says_what_the_answer_had(rule, answer, says):
    assert rule.check(answer) == says


def test_band_edges_are_inside():
    rule = NumberRule("band", Decimal("100"), Decimal("5000"))
    assert rule.check("$100") is None and rule.check("$5,000.00") is None
    assert rule.check("$5,000.01") is not None


def test_a_number_rule_needs_a_sane_band_and_path():
    with pytest.raises(ValueError, match="min, max or both"):
        NumberRule("n")
    with pytest.raises(ValueError, match="larger than max"):
        NumberRule("n", Decimal(2), Decimal(1))
    with pytest.raises(ValueError, match="not a field path"):
        NumberRule("n", Decimal(1), field="a..b")


# --- regex, max_chars, the set ------------------------------------------------------------


def test_regex_must_match_somewhere_and_anchors_mean_the_whole_answer():
    assert RegexRule("r", r"ORD-\d{4}").check("Your order ORD-1182 ships today.") is None
    assert RegexRule("r", r"\AORD-\d{4}\Z").check("Your order ORD-1182") == r"the answer does not match /\AORD-\d{4}\Z/"
    assert RegexRule("r", r"(?i)^refund approved").check("REFUND APPROVED for 1182") is None


def test_max_chars_counts_characters_not_bytes():
    assert MaxCharsRule("m", 5).check("héllo") is None
    assert MaxCharsRule("m", 5).check("héllo!") == "the answer has 6 characters, over max_chars 5"


def test_validators_report_every_broken_rule_in_order():
    rules = Validators((RegexRule("id", r"ORD-\d+"), NumberRule("band", Decimal(1), Decimal(100)), MaxCharsRule("short", 10)))
    assert rules.check("ORD-7: $42.99") == [Violation("short", "the answer has 13 characters, over max_chars 10")]
    assert rules.check("nothing useful here") == [
        Violation("id", r"the answer does not match /ORD-\d+/"),
        Violation("band", "no number in the answer"),
        Violation("short", "the answer has 19 characters, over max_chars 10"),
    ]
    assert rules.check("ORD-7 $9") == []
    assert rules.names == ["id", "band", "short"]


# --- config -------------------------------------------------------------------------------

BASE = """
providers:
  a: {kind: simulated, model: m-a}
  b: {kind: simulated, model: m-b}
steps:
  quote:
    providers: [a, b]
"""


def _parse(step_yaml: str):
    return parse_config(dedent(BASE) + step_yaml, env={}, source="test.yaml")


def _problems(step_yaml: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _parse(step_yaml)
    return info.value.problems


def _indent(text: str) -> str:
    return "".join("    " + line + "\n" for line in dedent(text).strip("\n").splitlines())


def test_a_step_compiles_its_rules_in_order_with_safe_defaults():
    step = _parse(_indent("""
        validate:
          - schema: {type: object, required: [premium]}
          - name: premium-band
            number: {field: premium, min: 100, max: 5000.50}
          - regex: '\\d'
          - max_chars: 400
    """)).steps["quote"]
    assert step.on_invalid == "failover"
    assert step.validate is not None and step.validate.names == ["schema", "premium-band", "regex", "max_chars"]
    band = step.validate.rules[1]
    assert isinstance(band, NumberRule) and (band.low, band.high, band.field) == (Decimal(100), Decimal("5000.50"), "premium")
    assert _parse("").steps["quote"].validate is None


@pytest.mark.parametrize(("step_yaml", "problem"), [
    ("validate:\n  - regex: '(unclosed'\n",
     "steps.quote.validate[0].regex: not a valid regular expression (missing ), unterminated subpattern at position 0); "
     "fix it, or escape special characters with \\"),
    ("validate:\n  - schema: {type: objekt}\n",
     "steps.quote.validate[0].schema: not a valid JSON Schema at type: 'objekt' is not valid under any of the given schemas"),
    ("validate:\n  - number: {field: premium}\n",
     "steps.quote.validate[0].number: give min, max or both (the band the number must lie in)"),
    ("validate:\n  - number: {min: 10, max: 1}\n",
     "steps.quote.validate[0].number: min (10) is larger than max (1); swap them"),
    ("validate:\n  - number: {min: 1, field: 'a..b'}\n",
     "steps.quote.validate[0].number: 'a..b' is not a field path (dotted keys with [i] for array items, such as quote.items[0].price)"),
    ("validate:\n  - number: {min: 1, mx: 2}\n",
     "steps.quote.validate[0].number.mx: unknown key 'mx'; did you mean 'max'?"),
    ("validate:\n  - regex: a\n    max_chars: 3\n",
     "steps.quote.validate[0]: give exactly one of schema, number, regex, max_chars or grounded (one rule per list item)"),
    ("validate:\n  - name: x\n",
     "steps.quote.validate[0]: give exactly one of schema, number, regex, max_chars or grounded (one rule per list item)"),
    ("validate:\n  - max_chars: 0\n", "steps.quote.validate[0].max_chars: Input should be greater than or equal to 1"),
    ("validate:\n  - regex: a\n  - regex: b\n",
     "steps.quote: validate[1] and validate[0] are both named 'regex'; give one of them its own 'name'"),
    ("on_invalid: flag\n",
     "steps.quote: on_invalid applies to a step's validate rules, and this step has none; add 'validate' or remove 'on_invalid'"),
    ("validate:\n  - max_chars: 9\non_invalid: retry\n",
     "steps.quote.on_invalid: unknown value (one of: failover, flag, fail)"),
    ("validators:\n  - max_chars: 9\n",
     "steps.quote.validators: unknown key 'validators'; did you mean 'validate'?"),
])
def test_each_mistake_names_its_path_and_the_fix(step_yaml, problem):
    assert _problems(_indent(step_yaml)) == [problem]


def test_the_readme_example_loads_and_judges_as_documented():
    import yaml

    from crosswalk.router.configfile import load_config

    text = (Path(__file__).resolve().parents[2] / "docs" / "validators.md").read_text()
    section = text[text.index("# Output validators"):]
    example = yaml.safe_load(section[section.index("```yaml") + 7:section.index("```", section.index("```yaml") + 7)])
    default = load_config(None)  # the embedded config names the example's providers
    spec = dedent("""
        providers:
          alpha-mini: {kind: simulated, model: m-a}
          beta-pro: {kind: simulated, model: m-b}
          gamma-open: {kind: simulated, model: m-c}
    """) + yaml.safe_dump({"steps": example["steps"]})
    assert set(example["steps"]["quote-premium"]["providers"]) <= set(default.providers)
    rules = parse_config(spec, env={}, source="docs/validators.md").steps["quote-premium"].validate
    assert rules is not None and rules.names == ["schema", "premium-band", "bare-json", "max_chars"]
    assert rules.check('{"premium": 840, "currency": "USD"}') == []
    assert [v.rule for v in rules.check('The quote: {"premium": 84000, "currency": "GBP"}')] == ["schema", "premium-band", "bare-json"]
