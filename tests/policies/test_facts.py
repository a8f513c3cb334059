"""The fact checks the semantic comparator runs before any cosine (pure, no model): each kind
of one-fact change is seen and named, and the paraphrases that look like one are not."""

from __future__ import annotations

import pytest

from crosswalk.policies.facts import changed_word, fact_mismatch

DIFFERENT = [
    ("The exhibition opens on 8 October.", "The exhibition opens on 8 November.", "numbers differ"),
    ("The meeting is in October.", "The meeting is in November.", "dates differ: october vs november"),
    ("The report is due on Friday.", "The report is due on Monday.", "dates differ"),
    ("Marie Curie won two Nobel Prizes.", "Marie Curie won three Nobel Prizes.", "numbers differ: 2 vs 3"),
    ("The parcel weighs 2 kg.", "The parcel weighs 2 lb.", "numbers differ"),
    ("The bridge is open to cyclists.", "The bridge is not open to cyclists.", "negates"),
    ("Penguins can fly.", "Penguins cannot fly.", "negates"),
    ("The firm failed to pay the invoice.", "The firm paid the invoice.", "negates"),
    ("The medication raises blood pressure.", "The medication lowers blood pressure.", "opposites: up/down"),
    ("The bank approved the loan.", "The bank rejected the loan.", "opposites: accept/reject"),
    ("Alexander Fleming discovered penicillin.", "Louis Pasteur discovered penicillin.", "names differ: Alexander Fleming vs Louis Pasteur"),
    ("Lisbon is the capital of Portugal.", "Porto is the capital of Portugal.", "names differ: Lisbon vs Porto"),
    ("Priya hired Tomás as her assistant.", "Tomás hired Priya as his assistant.", "roles differ: Priya and Tomás"),
    ("Google acquired YouTube.", "Google was acquired by YouTube.", "roles differ"),
    ("Mercury is closer to the Sun than Venus.", "Venus is closer to the Sun than Mercury.", "roles differ"),
    ("The headquarters moved from Dublin to London.", "The headquarters moved from London to Dublin.", "roles differ"),
    ("The dog bit the man.", "The man bit the dog.", "roles differ: 'dog' and 'man' trade places"),
    ("The shipment travels by rail.", "The shipment travels by air.", "transport differs: rail vs air"),
    ("The car is red.", "The car is blue.", "colour differs"),
]

SAME = [
    ("Google acquired YouTube in 2006.", "YouTube was acquired by Google in 2006."),
    ("Priya hired Tomás.", "Tomás was hired by Priya."),
    ("Dogs should not be given chocolate.", "Chocolate is unsafe for dogs, so don't feed it to them."),
    ("The museum is free for visitors under 18.", "Entry to the museum costs nothing if you are younger than eighteen."),
    ("Marie Curie won two Nobel Prizes.", "Marie Curie was awarded the Nobel Prize twice."),
    ("The store is not open on Sundays.", "The store is closed on Sundays."),  # a negation and an antonym cancel
    ("The office is on the third floor.", "The office is on floor three."),
    ("Water boils at 100 degrees Celsius.", "Water boils at 100 °C."),
    ("Kenya is in East Africa.", "Kenya is an East African country."),
    ("Alice sent the letter to Bob.", "Bob received the letter from Alice."),
    ("On Fridays the library closes early.", "The library closes early on Fridays."),
    ("Tom and Anna met in Rome.", "Anna and Tom met in Rome."),
    ("It is not only cheap but also fast.", "It is cheap and fast."),
]


@pytest.mark.parametrize(("a", "b", "reason"), DIFFERENT, ids=[r for _, _, r in DIFFERENT])
def test_a_one_fact_change_is_seen_and_named(a: str, b: str, reason: str) -> None:
    found = fact_mismatch(a, b)
    assert found is not None and reason in found, found
    assert fact_mismatch(b, a) is not None  # either order


@pytest.mark.parametrize(("a", "b"), SAME, ids=[a[:30] for a, _ in SAME])
def test_a_paraphrase_shows_no_fact_difference(a: str, b: str) -> None:
    assert fact_mismatch(a, b) is None
    assert fact_mismatch(b, a) is None


def test_changed_word_finds_the_one_word_that_differs() -> None:
    assert changed_word("The library shuts on Fridays.", "The library closes on Fridays.") == ("shuts", "closes")
    assert changed_word("The library shuts on Fridays.", "On Fridays the library shuts.") is None
    assert changed_word("Cats eat fish.", "Dogs chase cats.") is None
