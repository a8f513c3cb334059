"""Corroboration of free-text hard evidence: pure, driven by plain `now` floats."""

from __future__ import annotations

from crosswalk.policies.corroboration import Sighting, SightingBook


def _s(fingerprint: str, at: float, *, provider: str = "p", cls: str = "regulatory") -> Sighting:
    return Sighting(provider, cls, fingerprint, f"status 400: evidence {fingerprint}", at)


def test_a_second_different_request_corroborates_and_uses_both_up():
    book = SightingBook(600.0)
    assert book.sight(_s("req-1", 0.0)) is None
    assert [s.fingerprint for s in book.pending("p", 1.0)] == ["req-1"]
    earlier = book.sight(_s("req-2", 10.0))
    assert earlier is not None and earlier.fingerprint == "req-1"
    assert book.pending("p", 10.0) == []


def test_the_same_request_again_is_one_sighting():
    book = SightingBook(600.0)
    for t in range(5):
        assert book.sight(_s("req-1", float(t))) is None
    assert len(book.pending("p", 5.0)) == 1


def test_sightings_expire_after_the_window():
    book = SightingBook(600.0)
    book.sight(_s("req-1", 0.0))
    assert book.sight(_s("req-2", 601.0)) is None  # the first one expired: this starts over
    assert [s.fingerprint for s in book.pending("p", 601.0)] == ["req-2"]
    assert book.pending("p", 1202.0) == []


def test_only_the_same_provider_and_class_corroborate():
    book = SightingBook(600.0)
    book.sight(_s("req-1", 0.0))
    assert book.sight(_s("req-2", 1.0, provider="q")) is None
    assert book.sight(_s("req-3", 2.0, cls="auth")) is None
    assert book.sight(_s("req-4", 3.0)) is not None


def test_clear_forgets_only_that_provider():
    book = SightingBook(600.0)
    book.sight(_s("req-1", 0.0, provider="p"))
    book.sight(_s("req-1", 0.0, provider="q"))
    book.clear("p")
    assert book.pending("p", 1.0) == [] and len(book.pending("q", 1.0)) == 1
    assert book.sight(_s("req-2", 2.0, provider="p")) is None  # nothing left to corroborate
