"""Units and currencies as they follow or precede a number in an answer: what each spelling
means, and converting between units of one dimension.

Why a table and not pint: recognising units in prose needs a table of spellings anyway
(pint would read "in", "s" or "m" in any sentence as inch, second and metre), pint's first
registry costs 110-200 ms and reads its definitions file (policies/ does no I/O), and its
float factors are inexact. These factors are exact Decimals (international yard and pound,
US liquid gallon), so "1 mile" is exactly 1609.344 m.

Conversions done, within one dimension only: length (mm cm m km in ft yd mi nmi), mass
(mg g kg t oz lb), volume (ml cl dl l m³ gal), area (m² km² ha acre ft² mi²), speed (m/s
km/h mph kn), time (ms s min h day week), temperature (°C °F K, with offsets), data (B kB
MB GB TB and KiB MiB GiB TiB), energy (J kJ cal kcal Wh kWh), power (W kW MW GW) and
frequency (Hz kHz MHz GHz). Months, years and angles never convert (a month is no fixed
number of days). Currencies never convert (no exchange rates in a pure comparator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Iterable

D = Decimal


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit: its canonical symbol, its dimension and its factor to the dimension's base
    (the base is the unit with factor 1; temperatures also have an offset to kelvin)."""

    symbol: str
    dimension: str
    factor: Decimal
    offset: Decimal = D(0)


# symbol, dimension, factor to base, spellings (case-sensitive where case means something)
_TABLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("mm", "length", "0.001", ("mm", "millimetre", "millimetres", "millimeter", "millimeters")),
    ("cm", "length", "0.01", ("cm", "centimetre", "centimetres", "centimeter", "centimeters")),
    ("m", "length", "1", ("m", "metre", "metres", "meter", "meters")),
    ("km", "length", "1000", ("km", "kilometre", "kilometres", "kilometer", "kilometers", "kms")),
    ("in", "length", "0.0254", ("inch", "inches", '"', "″")),
    ("ft", "length", "0.3048", ("ft", "foot", "feet", "′")),
    ("yd", "length", "0.9144", ("yd", "yds", "yard", "yards")),
    ("mi", "length", "1609.344", ("mi", "mile", "miles")),
    ("nmi", "length", "1852", ("nmi", "nautical mile", "nautical miles")),
    ("mg", "mass", "0.000001", ("mg", "milligram", "milligrams")),
    ("g", "mass", "0.001", ("g", "gram", "grams", "gramme", "grammes")),
    ("kg", "mass", "1", ("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes")),
    ("t", "mass", "1000", ("t", "tonne", "tonnes", "metric ton", "metric tons")),
    ("oz", "mass", "0.028349523125", ("oz", "ounce", "ounces")),
    ("lb", "mass", "0.45359237", ("lb", "lbs", "pound", "pounds")),
    ("ml", "volume", "0.001", ("ml", "mL", "millilitre", "millilitres", "milliliter", "milliliters")),
    ("cl", "volume", "0.01", ("cl", "cL", "centilitre", "centilitres", "centiliter", "centiliters")),
    ("dl", "volume", "0.1", ("dl", "dL", "decilitre", "decilitres", "deciliter", "deciliters")),
    ("l", "volume", "1", ("l", "L", "litre", "litres", "liter", "liters", "ltr")),
    ("m³", "volume", "1000", ("m³", "m3", "cubic metre", "cubic metres", "cubic meter", "cubic meters")),
    ("gal", "volume", "3.785411784", ("gal", "gallon", "gallons")),
    ("m²", "area", "1", ("m²", "m2", "sq m", "square metre", "square metres", "square meter", "square meters")),
    ("km²", "area", "1000000", ("km²", "km2", "sq km", "square kilometre", "square kilometres",
                                "square kilometer", "square kilometers")),
    ("ha", "area", "10000", ("ha", "hectare", "hectares")),
    ("acre", "area", "4046.8564224", ("acre", "acres")),
    ("ft²", "area", "0.09290304", ("ft²", "sq ft", "square foot", "square feet")),
    ("mi²", "area", "2589988.110336", ("mi²", "sq mi", "square mile", "square miles")),
    ("m/s", "speed", "1", ("m/s", "metres per second", "meters per second")),
    ("km/h", "speed", "0.27777777777777777777777777778", ("km/h", "kph", "kmh", "km/hr", "kilometres per hour",
                                                          "kilometers per hour")),
    ("mph", "speed", "0.44704", ("mph", "miles per hour")),
    ("kn", "speed", "0.51444444444444444444444444444", ("kn", "knot", "knots")),
    ("ms", "time", "0.001", ("ms", "millisecond", "milliseconds")),
    ("s", "time", "1", ("s", "sec", "secs", "second", "seconds")),
    ("min", "time", "60", ("min", "mins", "minute", "minutes")),
    ("h", "time", "3600", ("h", "hr", "hrs", "hour", "hours")),
    ("day", "time", "86400", ("day", "days")),
    ("week", "time", "604800", ("week", "weeks", "wk", "wks")),
    ("month", "month", "1", ("month", "months")),
    ("year", "year", "1", ("year", "years", "yr", "yrs")),
    ("°", "angle", "1", ("°", "degree", "degrees")),
    ("B", "data", "1", ("B", "byte", "bytes")),
    ("kB", "data", "1000", ("kB", "KB", "kilobyte", "kilobytes")),
    ("MB", "data", "1000000", ("MB", "megabyte", "megabytes")),
    ("GB", "data", "1000000000", ("GB", "gigabyte", "gigabytes")),
    ("TB", "data", "1000000000000", ("TB", "terabyte", "terabytes")),
    ("KiB", "data", "1024", ("KiB", "kibibyte", "kibibytes")),
    ("MiB", "data", "1048576", ("MiB", "mebibyte", "mebibytes")),
    ("GiB", "data", "1073741824", ("GiB", "gibibyte", "gibibytes")),
    ("TiB", "data", "1099511627776", ("TiB", "tebibyte", "tebibytes")),
    ("J", "energy", "1", ("J", "joule", "joules")),
    ("kJ", "energy", "1000", ("kJ", "kilojoule", "kilojoules")),
    ("cal", "energy", "4.184", ("cal", "calorie", "calories")),
    ("kcal", "energy", "4184", ("kcal", "kilocalorie", "kilocalories", "Cal")),
    ("Wh", "energy", "3600", ("Wh", "watt-hour", "watt-hours")),
    ("kWh", "energy", "3600000", ("kWh", "kilowatt-hour", "kilowatt-hours", "kilowatt hour", "kilowatt hours")),
    ("W", "power", "1", ("W", "watt", "watts")),
    ("kW", "power", "1000", ("kW", "kilowatt", "kilowatts")),
    ("MW", "power", "1000000", ("MW", "megawatt", "megawatts")),
    ("GW", "power", "1000000000", ("GW", "gigawatt", "gigawatts")),
    ("Hz", "frequency", "1", ("Hz", "hertz")),
    ("kHz", "frequency", "1000", ("kHz", "kilohertz")),
    ("MHz", "frequency", "1000000", ("MHz", "megahertz")),
    ("GHz", "frequency", "1000000000", ("GHz", "gigahertz")),
)
_TEMPERATURES = (
    ("°C", "1", "273.15", ("°C", "℃", "degrees Celsius", "degree Celsius", "degrees C", "Celsius", "celsius",
                           "deg C", "ºC")),
    ("°F", "0.55555555555555555555555555556", "255.37222222222222222222222222",
     ("°F", "℉", "degrees Fahrenheit", "degree Fahrenheit", "degrees F", "Fahrenheit", "fahrenheit", "deg F", "ºF")),
    ("K", "1", "0", ("kelvin", "kelvins")),
)

UNITS: dict[str, Unit] = {}
for _symbol, _dimension, _factor, _names in _TABLE:
    for _name in _names:
        UNITS[_name] = Unit(_symbol, _dimension, D(_factor))
for _symbol, _factor, _offset, _names in _TEMPERATURES:
    for _name in _names:
        UNITS[_name] = Unit(_symbol, "temperature", D(_factor), D(_offset))

# Case-insensitive for spelled-out words (3+ letters), case-sensitive for symbols (mB is no MB).
_WORDY = {n for n in UNITS if len(n) > 3 and n.isascii() and n.replace(" ", "").replace("-", "").isalpha()}
_LOWER = {n.lower(): UNITS[n] for n in _WORDY}


def _alternation(names: Iterable[str]) -> str:
    # Longest first: a regex alternation takes the first branch that matches ("km" before "m").
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


UNIT_RE = re.compile(
    rf"(?:(?i:{_alternation(_WORDY)})|{_alternation(set(UNITS) - _WORDY)})(?![A-Za-z0-9²³])"
)


def unit_named(name: str) -> Unit:
    """The unit a spelling matched by `UNIT_RE` stands for."""
    return UNITS.get(name) or _LOWER[name.lower()]


def to_base(value: Decimal, unit: Unit) -> Decimal:
    """`value` in `unit` expressed in its dimension's base unit (kelvin for temperatures)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return value * unit.factor + unit.offset


def convertible(a: Unit, b: Unit) -> bool:
    """True when the two units measure one dimension that converts (not months or years)."""
    return a.dimension == b.dimension and a.dimension not in ("month", "year", "angle")


# Currency spellings before or after an amount -> ISO code. "$" alone is USD: answers to one
# question name one dollar, and "US$", "A$", "C$" say which when it matters.
CURRENCIES: dict[str, str] = {
    "$": "USD", "US$": "USD", "USD": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "EUR": "EUR", "euro": "EUR", "euros": "EUR", "Euro": "EUR", "Euros": "EUR",
    "£": "GBP", "GBP": "GBP", "sterling": "GBP",
    "¥": "JPY", "JPY": "JPY", "yen": "JPY",
    "CN¥": "CNY", "CNY": "CNY", "RMB": "CNY", "yuan": "CNY",
    "₹": "INR", "INR": "INR", "rupee": "INR", "rupees": "INR", "Rs": "INR", "Rs.": "INR",
    "₩": "KRW", "KRW": "KRW", "won": "KRW",
    "₽": "RUB", "RUB": "RUB", "rubles": "RUB", "roubles": "RUB",
    "CHF": "CHF", "Fr.": "CHF", "francs": "CHF",
    "A$": "AUD", "AUD": "AUD", "C$": "CAD", "CAD": "CAD", "NZ$": "NZD", "NZD": "NZD",
    "HK$": "HKD", "HKD": "HKD", "S$": "SGD", "SGD": "SGD", "R$": "BRL", "BRL": "BRL",
    "₺": "TRY", "TRY": "TRY", "₪": "ILS", "ILS": "ILS", "SEK": "SEK", "NOK": "NOK", "DKK": "DKK",
    "MXN": "MXN", "ZAR": "ZAR", "PLN": "PLN", "zł": "PLN",
}
# Spellings that only count before a number ("won", "Fr." after one are words, not money).
_BEFORE_ONLY = {"Fr.", "Rs", "Rs."}
_AFTER_ONLY = {"dollar", "dollars", "euro", "euros", "Euro", "Euros", "sterling", "yen", "yuan", "rupee",
               "rupees", "won", "rubles", "roubles", "francs"}
_SYMBOLS = {c for c in CURRENCIES if not c[-1].isalpha() or len(c) <= 2}

# An amount's currency written before it ("$", "US$", "EUR "), and after it (" EUR", " euros").
CURRENCY_BEFORE = (
    rf"(?:(?<![A-Za-z])(?:{_alternation(set(CURRENCIES) - _AFTER_ONLY - _SYMBOLS)})|"
    rf"{_alternation(_SYMBOLS - _AFTER_ONLY)})"
)
CURRENCY_AFTER_RE = re.compile(rf"\s?(?:{_alternation(set(CURRENCIES) - _BEFORE_ONLY)})(?![A-Za-z])")
CENTS_RE = re.compile(r"\s?(?:cents?|¢)(?![A-Za-z])")
