"""The run book of the seam checks: bounded by TTL, run count and amounts per run, on a
manual clock; it holds step names and amounts, nothing else."""

from __future__ import annotations

from crosswalk.policies.schema import SeamsSpec
from crosswalk.router.state.runs import RunAnswer, RunBook
from tests.virtual_time import ManualClock


def _amount(value: str) -> str:
    return f"${value}"


def test_a_run_is_forgotten_ttl_after_its_last_answer() -> None:
    clock = ManualClock()
    book = RunBook(SeamsSpec(ttl_s=60), clock)
    book.add("r", "extract", [_amount("42.99")])
    clock.advance(50)
    book.add("r", "total", [_amount("47.99")])  # a new answer keeps the run alive
    clock.advance(50)
    assert book.answered("r") == [("extract", "$42.99"), ("total", "$47.99")]
    clock.advance(11)
    assert book.answered("r") == [] and len(book) == 0


def test_the_least_recently_used_run_goes_past_max_runs() -> None:
    book = RunBook(SeamsSpec(max_runs=2), ManualClock())
    for run in ("a", "b"):
        book.add(run, "s", [_amount("1.00")])
    book.add("a", "s2", [_amount("2.00")])  # a used again: b is now the oldest
    book.add("c", "s", [_amount("3.00")])
    assert book.answered("b") == [] and book.answered("a") and book.answered("c")


def test_a_run_keeps_its_latest_amounts_and_no_duplicates() -> None:
    book = RunBook(SeamsSpec(max_amounts=3), ManualClock())
    book.add("r", "s", [_amount(v) for v in ("1.11", "2.22", "2.22", "3.33", "4.44")])
    book.add("r", "s", [_amount("4.44")])
    assert [token for _, token in book.answered("r")] == ["$2.22", "$3.33", "$4.44"]


def test_listeners_hear_local_answers_and_never_remote_ones() -> None:
    book = RunBook(SeamsSpec(), ManualClock())
    heard: list[RunAnswer] = []
    book.listen(heard.append)
    book.add("r", "s", [_amount("42.99")])
    book.add("r", "s", [])  # nothing to keep, nothing to tell
    book.apply_remote(RunAnswer("r", "other", (_amount("10.00"),)))
    assert heard == [RunAnswer("r", "s", (_amount("42.99"),))]
    assert [step for step, _ in book.answered("r")] == ["s", "other"]
