"""The fact checks the semantic comparator runs before any cosine (pure, no model): each kind
of one-fact change is seen and named, and the paraphrases that look like one are not."""

from __future__ import annotations

import pytest

from crosswalk.policies.facts import changed_phrase, changed_word, fact_mismatch

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


# --- issue 21: attributes swapped, phrase opposites, a changed phrase ------------------------


@pytest.mark.parametrize(("a", "b", "differ"), [
    ("Alice is 30 and Bob is 25.", "Alice is 25 and Bob is 30.", True),
    ("Alice is 30 and Bob is 25.", "Bob is 25 and Alice is 30.", False),
    ("The cat is black and the dog is white.", "The cat is white and the dog is black.", True),
    ("Iron is magnetic and copper is not.", "Copper is magnetic and iron is not.", True),
    ("The library opens at 9 and closes at 5.", "The library opens at 5 and closes at 9.", True),
    ("The library opens at 9 and closes at 5.", "The library is open from 9 to 5.", False),
    ("Maria leads sales, while Chen leads marketing.", "Sales is led by Maria and marketing by Chen.", False),
    ("The talk is at 3 pm and the lunch at 1 pm.", "The talk is at 1 pm and the lunch at 3 pm.", True),  # times by what they mean
    ("The talk is at 3 pm and the lunch at 1 pm.", "Lunch is at 1 pm and the talk at 3 pm.", False),
])
def test_attributes_traded_between_two_entities(a: str, b: str, differ: bool) -> None:
    assert (fact_mismatch(a, b) is not None) is differ, fact_mismatch(a, b)


@pytest.mark.parametrize(("a", "b", "differ"), [
    ("Take ibuprofen with food.", "Take ibuprofen on an empty stomach.", True),
    ("Take ibuprofen with food.", "Ibuprofen should be taken with a meal.", False),
    ("Take it after meals.", "Take it before meals.", True),
    ("Take it with food.", "Take it without food.", True),  # the phrase, not a negation that cancels it
])
def test_phrase_opposites(a: str, b: str, differ: bool) -> None:
    assert (fact_mismatch(a, b) is not None) is differ


def test_names_in_two_clauses_are_no_role_pair() -> None:
    assert fact_mismatch("Tom plays the violin and Sara plays the cello.",
                         "Sara plays the cello and Tom plays the violin.") is None


def test_changed_phrase_in_a_shared_frame() -> None:
    assert changed_phrase("The outage was caused by an expired certificate.",
                          "The outage was caused by a misconfigured load balancer.") == (
        "expired certificate", "misconfigured load balancer")
    assert changed_phrase("The library shuts on Fridays.", "The library closes on Fridays.") == ("shuts", "closes")
    assert changed_phrase("Cats eat fish.", "Dogs chase cats.") is None  # no shared frame
    assert changed_phrase("Take it with food.", "Take it on an empty stomach.") is None  # polarity judged that
