"""Every labelled agreement case of the numeric, json and normalized comparators decided as
the verifier decides it (quorum 2 of k): the public examples in ../shared/ (beside the
checkout) and Crosswalk's own labelled set. Accuracy per comparator:
`.venv/bin/python tests/policies/agreement_eval.py --wrong`."""

from __future__ import annotations

import pytest

from tests.policies.agreement_eval import LABELLED, PUBLIC, TRAPS, cases, decide

# Cases the comparators are known to get wrong, with the reason: each is a limit, written
# down rather than hidden.
KNOWN_MISSES = {
    "lt018-a-article-lower": "a lower-case 'a' inside a sentence may be the letter a ('option a is right'), so it is kept",
}


def _params(path):  # type: ignore[no-untyped-def]
    if not path.exists():
        return [pytest.param(None, None, id="absent", marks=pytest.mark.skip(reason=f"{path} is absent (CI copies shared/ beside the checkout)"))]
    out = []
    for section, case in cases(path):
        marks = [pytest.mark.xfail(reason=KNOWN_MISSES[case["id"]], strict=True)] if case["id"] in KNOWN_MISSES else []
        out.append(pytest.param(section, case, id=case["id"], marks=marks))
    return out


@pytest.mark.parametrize(("compare", "case"), _params(PUBLIC))
def test_public_example(compare: str, case: dict) -> None:
    assert decide(compare, case["answers"], case.get("opts")) == case["expect"], case.get("why")


@pytest.mark.parametrize(("compare", "case"), _params(LABELLED))
def test_labelled_case(compare: str, case: dict) -> None:
    assert decide(compare, case["answers"], case.get("opts")) == case["expect"], case.get("why")


def test_labelled_set_is_well_formed() -> None:
    seen: set[str] = set()
    for compare, case in cases(LABELLED):
        assert case["id"] not in seen, case["id"]
        seen.add(case["id"])
        assert case["expect"] in ("agreed", "disagreed") and len(case["answers"]) >= 2 and case.get("why")
    assert len(seen) >= 200


@pytest.mark.parametrize(("compare", "case"), _params(TRAPS))
def test_trap(compare: str, case: dict) -> None:
    assert decide(compare, case["answers"], case.get("opts")) == case["expect"], case.get("why")


def test_traps_are_well_formed_and_split() -> None:
    seen: set[str] = set()
    held = {"numeric": 0, "json": 0, "normalized": 0}
    for compare, case in cases(TRAPS):
        assert case["id"] not in seen, case["id"]
        seen.add(case["id"])
        assert case["expect"] in ("agreed", "disagreed") and case["split"] in ("cal", "held") and case.get("why")
        held[compare] += case["split"] == "held"
    assert held["numeric"] >= 40 and held["normalized"] >= 12 and held["json"] >= 6, held
