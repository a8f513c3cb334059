"""JSON on the hot path: orjson (several times faster than the standard library) with the
standard library as the fallback, compact as OpenAI sends it.

Integers beyond 64 bits pass through exactly. orjson parses such a literal as a float
(`123456789012345678901234567890` would reach the vendor as `1.2345678901234568e+29`)
and refuses to encode a Python int beyond 64 bits, so a document holding a run of 19 or
more digits is parsed by the standard library, and a value orjson refuses for its size is
encoded by it. The digit-run test is one `bytes.translate` and one substring search
(about 0.4 us a call on a chat body or a stream chunk, beside orjson's 0.5; 2 ms on a 4 MB
body); false positives (long digit runs inside strings) only take the slower, equally
exact, path.
"""

from __future__ import annotations

import json
from typing import Any

# orjson's encoder stops at this depth (its parser at 1024): deeper documents cannot be
# sent on, whatever the vendor would accept.
MAX_DEPTH = 254

_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x78 for i in range(256))
_LONG_RUN = b"0" * 19  # shortest literal that can leave int64 (-9223372036854775809)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _std_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _std_dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None


try:
    import orjson

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes; raises TypeError or ValueError for what JSON cannot hold."""
        try:
            return orjson.dumps(obj)
        except TypeError as exc:
            if str(exc) == "Integer exceeds 64-bit range":
                return _std_dumps(obj)
            raise

    def loads(data: bytes | str) -> Any:
        """Parse JSON; raises ValueError on bad input."""
        raw = data if type(data) is bytes else (data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data))
        if _LONG_RUN in raw.translate(_DIGITS):  # inlined: about 0.4 us a call, orjson's own is 0.5
            return _std_loads(data)
        return orjson.loads(data)

except ImportError:  # pragma: no cover - orjson is a declared dependency

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        return _std_dumps(obj)

    def loads(data: bytes | str) -> Any:
        """Parse JSON; raises ValueError on bad input."""
        return _std_loads(data)


def encoding_problem(obj: Any) -> str | None:
    """Why `obj` cannot be sent as JSON (too deep, a non-string key, a value JSON has no
    form for), or None when it can. Costs one encoding (about 0.2 us for a chat body)."""
    try:
        dumps(obj)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        if text == "Recursion limit reached":
            return f"nested deeper than {MAX_DEPTH} levels"
        return text[:200]
    return None
