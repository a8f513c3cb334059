"""The seam rule (policies/continuation.py) on its labelled continuations, and its mechanics:
where a restart's reproduced prefix ends, whitespace at the seam, the bounded hold.
Accuracy per part: `.venv/bin/python tests/policies/continuation_eval.py --wrong`."""

from __future__ import annotations

import pytest

from crosswalk.policies.continuation import WINDOW_CHARS, judge
from tests.policies.continuation_eval import PARTS, load, score


@pytest.mark.parametrize("part", PARTS)
def test_no_labelled_continuation_is_passed_garbled(part):
    items = load()[part]
    right, unsafe, wrong = score(items)
    assert unsafe == 0, "\n".join(wrong)
    assert right >= len(items) - 1, "\n".join(wrong)  # the measured figure: see docs/failures.md


def test_the_parts_are_many_and_cover_every_outcome():
    parts = load()
    assert len(parts["held_out_2"]) >= 25 and sum(len(parts[p]) for p in PARTS) >= 180
    for part in ("held_out", "held_out_2"):
        assert {c["expect"] for c in parts[part]} == {"resumed", "restarted", "trimmed", "failed"}


def test_the_issue_case_the_answer_is_42_after_The():
    seam = judge("The", "The answer is 42.", ended=False)
    assert seam is not None and seam.outcome == "restarted" and "The answer is 42."[seam.skip:] == " answer is 42."


def test_a_restart_skips_to_the_right_character_despite_other_spacing_and_case():
    held = "  the refund\n\nfor order 12 is"
    seam = judge("The refund for order 1", held, ended=False)
    assert seam is not None and seam.outcome == "restarted" and held[seam.skip:] == "2 is"


def test_whitespace_at_the_seam_is_not_doubled_and_waits_for_the_next_character():
    assert judge("Ingredients:\n", "Ingredients:", ended=False) is None
    seam = judge("Ingredients:\n", "Ingredients:\n- 2 eggs", ended=False)
    assert seam is not None and "Ingredients:\n- 2 eggs"[seam.skip:] == "- 2 eggs"


def test_the_hold_is_bounded():
    assert judge("Total:", " " + "=" * 50, ended=False) is None
    seam = judge("Total:", " " + "=" * (WINDOW_CHARS + 10), ended=False)
    assert seam is not None and seam.outcome == "failed" and "could not be told" in seam.why


def test_a_restart_request_refuses_a_continuation_and_an_empty_answer_fails():
    assert judge("The refund", " is $42.99 today.", ended=True, restart_only=True).outcome == "failed"
    assert judge("The refund", "", ended=True).outcome == "failed"
