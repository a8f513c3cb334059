"""Reading numbers as a reader means them: properties of the parsers (any Decimal written in
US, European, Swiss or spaced style reads back; scaling by 1000 never agrees; a sign,
magnitude or unit change is seen) and the unit conversions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosswalk.policies.compare_numbers import numbers_in, numeric_equal
from crosswalk.policies.dates import find_dates
from crosswalk.policies.number_words import spell_out
from crosswalk.policies.numbers import read_numbers
from crosswalk.policies.units import UNITS, to_base

D = Decimal
no_deadline = settings(deadline=None)
amounts = st.decimals(min_value=D("0.01"), max_value=D(10) ** 12, places=2, allow_nan=False)


def styled(value: Decimal, style: str) -> str:
    """`value` (two decimals) written in one locale's style."""
    us = f"{value:,.2f}"
    group, decimal = {"us": (",", "."), "eu": (".", ","), "ch": ("'", "."), "fr": ("\u202f", ","),
                      "spaced": (" ", ",")}[style]
    return us.replace(",", "\0").replace(".", decimal).replace("\0", group)


@no_deadline
@given(amounts, st.sampled_from(["us", "eu", "ch", "fr", "spaced"]), st.sampled_from(["€", "EUR ", "$", ""]))
def test_a_styled_amount_reads_back(value: Decimal, style: str, currency: str) -> None:
    shown = styled(value, style)
    text = f"Total: {currency}{shown}" if currency or style != "spaced" else f"Total: {shown} €"
    assert numbers_in(text) == [value]


@no_deadline
@given(amounts, st.sampled_from(["us", "eu", "ch", "fr"]), st.sampled_from(["us", "eu", "ch", "fr"]))
def test_two_styles_of_one_amount_agree(value: Decimal, left: str, right: str) -> None:
    assert numeric_equal(f"€{styled(value, left)}", f"{styled(value, right)} €", rel_tol=0)


@no_deadline
@given(amounts, st.sampled_from([0, 0.005, 0.1, 0.5]), st.sampled_from(["", "$", "€"]))
def test_scaling_by_1000_never_agrees(value: Decimal, rel: float, currency: str) -> None:
    assert not numeric_equal(f"{currency}{value:,}", f"{currency}{value * 1000:,}", rel_tol=rel)
    assert not numeric_equal(f"{currency}{value} million", f"{currency}{value} billion", rel_tol=rel)
    assert not numeric_equal(f"{currency}{value}k", f"{currency}{value}M", rel_tol=rel)


@no_deadline
@given(amounts, st.sampled_from(["-{}", "minus {}", "negative {}", "Net: ({})", "\u2212{}"]))
def test_a_negative_never_agrees_with_its_positive(value: Decimal, form: str) -> None:
    shown = f"${value:,.2f}"
    assert not numeric_equal(form.format(shown), shown)
    assert numeric_equal(form.format(shown), f"-{shown}")


@no_deadline
@given(amounts, st.sampled_from(["km", "miles", "kg", "lb", "°C", "°F", "GB", "MB", "hours", "minutes"]),
       st.sampled_from(["km", "miles", "kg", "lb", "°C", "°F", "GB", "MB", "hours", "minutes"]))
def test_same_figure_in_different_units_disagrees(value: Decimal, a: str, b: str) -> None:
    assert numeric_equal(f"{value} {a}", f"{value} {b}") is (a == b)


@no_deadline
@given(st.integers(1000, 2999), st.integers(1, 5), st.sampled_from([0.005, 0.1]))
def test_years_and_ids_match_exactly(year: int, step: int, rel: float) -> None:
    assert not numeric_equal(f"Released in {year}", f"Released in {year + step}", rel_tol=rel)
    assert not numeric_equal(f"order #{year}", f"order #{year + step}", rel_tol=rel)
    assert numeric_equal(f"Released in {year}", f"It was released in {year}.")


@no_deadline
@given(st.integers(0, 999_999))
def test_number_words_read_back(n: int) -> None:
    assert spell_out(words(n)) == str(n)


_SMALL = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
         "seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n: int) -> str:
    """`n` (< 10**6) in English words, as a reader writes it."""
    if n < 20:
        return _SMALL[n]
    if n < 100:
        return _TENS[n // 10 - 2] + (f"-{_SMALL[n % 10]}" if n % 10 else "")
    if n < 1000:
        return f"{_SMALL[n // 100]} hundred" + (f" and {words(n % 100)}" if n % 100 else "")
    return f"{words(n // 1000)} thousand" + (f" {words(n % 1000)}" if n % 1000 else "")


@no_deadline
@given(st.text(alphabet="0123456789.,'’ \u00a0$€()-−kMB%e×^x: abcdefghijklmnopqrstuvwxyz", max_size=60))
def test_reading_never_raises_and_is_symmetric(text: str) -> None:
    readings = read_numbers(text)
    assert all(r.value.is_finite() for r in readings)
    assert numeric_equal(text, text) is bool(readings)
    other = text[::-1]
    assert numeric_equal(text, other) is numeric_equal(other, text)


@pytest.mark.parametrize(
    ("a", "b"),
    [("5 km", "5000 m"), ("1 mile", "1.609344 km"), ("100 °C", "212 °F"), ("0 °C", "273.15 kelvin"),
     ("2 h", "120 min"), ("1 GB", "1000 MB"), ("1 GiB", "1024 MiB"), ("1 lb", "453.59237 g"),
     ("1 gallon", "3.785 L"), ("1 ha", "10,000 m²"), ("60 mph", "96.56 km/h"), ("1 kWh", "3600 kJ")],
)
def test_units_of_one_dimension_convert(a: str, b: str) -> None:
    assert numeric_equal(a, b)
    assert numeric_equal(b, a)


@pytest.mark.parametrize(("a", "b"), [("3 months", "90 days"), ("1 year", "365 days"), ("5 km", "5 kg"), ("1 h", "1 km")])
def test_units_that_do_not_convert(a: str, b: str) -> None:
    assert not numeric_equal(a, b)


def test_every_unit_spelling_has_a_base() -> None:
    for name, unit in UNITS.items():
        assert to_base(D(1), unit) > 0, name


@pytest.mark.parametrize(
    ("text", "keys"),
    [("2024-03-15", [("date", 2024, 3, 15)]), ("15 March 2024", [("date", 2024, 3, 15)]),
     ("March 15, 2024", [("date", 2024, 3, 15)]), ("15.03.2024", [("date", 2024, 3, 15)]),
     ("8 October", [("date", None, 10, 8)]), ("10:30 pm", [("time", 22, 30, 0)]), ("5 PM", [("time", 17, 0, 0)]),
     ("you may 3 times", []), ("3/4/2024", [("date/", 3, 4, 2024)])],
)
def test_dates_and_times(text: str, keys: list[tuple[object, ...]]) -> None:
    assert [key for _, key in find_dates(text)[1]] == keys


# --- issue 21: periods, falls, minus signs, basis points, half, Indian and spaced grouping ----


@pytest.mark.parametrize(("text", "value", "per"), [
    ("Interest: 5% per month", "0.05", "month"),
    ("Rate: $20/h", "20", "hour"),
    ("Take 2 tablets a day", "2", "day"),
    ("Interest 3% p.a.", "0.03", "year"),
    ("The monthly fee is $20", "20", "month"),
    ("Rent: £300 weekly", "300", "week"),
    ("The fee is $20", "20", None),
])
def test_a_rate_reads_its_period(text: str, value: str, per: str | None) -> None:
    (reading,) = read_numbers(text)
    assert (reading.value, reading.per) == (D(value), per)


@pytest.mark.parametrize(("text", "value"), [
    ("Sales fell 3%", "-0.03"), ("The index is down 2.4%", "-0.024"), ("a loss of $5m", "-5000000"),
    ("A deficit of €12 billion", "-12000000000"), ("Sales rose 3%", "0.03"), ("Change: \u20133%", "-0.03"),
    ("Change: \uff0d3%", "-0.03"), ("Allow 5\u201310 days", "5"), ("Unemployment fell to 4.1%", "0.041"),
    ("Down payment: $5,000", "5000"),
])
def test_signs_and_falls(text: str, value: str) -> None:
    assert read_numbers(text)[0].value == D(value)


@pytest.mark.parametrize(("text", "value", "percent"), [
    ("50 bp", "0.0050", True), ("75 basis points", "0.0075", True), ("12%", "0.12", True),
    ("half of the budget", "0.5", False), ("two and a half hours", "2.5", False), ("one half", "0.5", False),
    ("half a million dollars", "500000", False), ("1,00,000", "100000", False), ("12,34,567", "1234567", False),
    ("1 000 000", "1000000", False), ("the first half of the year", None, False),
])
def test_percent_basis_points_half_and_grouping(text: str, value: str | None, percent: bool) -> None:
    found = [r for r in read_numbers(text) if r.exact is None]
    if value is None:
        assert found == []
        return
    assert (found[0].value, found[0].percent) == (D(value), percent)


def test_a_reading_compares_as_before_whatever_it_was_written_as() -> None:
    # `percent` is not compared: "half" and "50%" are one value
    assert read_numbers("half of it")[0] == read_numbers("50% of it")[0]
