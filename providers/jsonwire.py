"""JSON on the hot path: orjson (several times faster than the standard library) with the
standard library as the fallback, compact as OpenAI sends it."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        return orjson.dumps(obj)

    def loads(data: bytes | str) -> Any:
        """Parse JSON; raises ValueError on bad input."""
        return orjson.loads(data)

except ImportError:  # pragma: no cover - orjson is a declared dependency

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(data: bytes | str) -> Any:
        """Parse JSON; raises ValueError on bad input."""
        return json.loads(data)
