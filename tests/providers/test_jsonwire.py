"""JSON on the wire: orjson's speed, with integers beyond 64 bits kept exact."""

from __future__ import annotations

import pytest

from crosswalk.providers.jsonwire import MAX_DEPTH, dumps, encoding_problem, loads

BIG = 123456789012345678901234567890


@pytest.mark.parametrize("literal, value", [
    (b"123456789012345678901234567890", BIG),
    (b"-9223372036854775809", -9223372036854775809),  # one below int64
    (b"18446744073709551616", 2**64),  # one above uint64
    (b"18446744073709551615", 2**64 - 1),
])
def test_big_integer_literals_parse_exactly(literal, value):
    parsed = loads(b'{"seed":' + literal + b',"nested":[{"n":' + literal + b"}]}")
    assert parsed == {"seed": value, "nested": [{"n": value}]}
    assert type(parsed["seed"]) is int
    assert loads(literal.decode()) == value  # str input too (SSE data)


def test_big_integers_encode_exactly_and_round_trip():
    body = {"seed": BIG, "tools": [{"max": -(2**70)}], "text": "é"}
    raw = dumps(body)
    assert raw == '{"seed":123456789012345678901234567890,"tools":[{"max":-1180591620717411303424}],"text":"é"}'.encode()
    assert loads(raw) == body


def test_the_fallback_parser_is_as_strict_as_orjson():
    for bad in (b'{"n": NaN, "seed": 12345678901234567890}', b'{"n": 1e400, "seed": 12345678901234567890}',
                b'{"seed": 12345678901234567890', b"[" * 1100 + b"12345678901234567890" + b"]" * 1100):
        with pytest.raises(ValueError):
            loads(bad)


def test_long_digit_runs_inside_strings_parse_the_same():
    raw = b'{"content":"card 1234567890123456789012 ok","x":1.5}'
    assert loads(raw) == {"content": "card 1234567890123456789012 ok", "x": 1.5}


def test_encoding_problem_names_depth_and_unencodable_values():
    deep: list = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    assert "nested deeper than" in (encoding_problem({"x": deep}) or "")
    assert encoding_problem({1: "x"}) is not None
    assert encoding_problem({"s": {1, 2}}) is not None
    assert encoding_problem({"seed": BIG, "messages": [{"role": "user", "content": "hi"}]}) is None
