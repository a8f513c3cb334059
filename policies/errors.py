"""The root of the caller-facing error tree, and the one error the pure layer raises.

The whole tree is drawn in `crosswalk.router.errors` (where callers import it from). Its
base lives here, in `policies`, because `ConfigError` is raised by the pure config parser,
which may import `providers` but never `router`: the base has to sit at least this low.
"""

from __future__ import annotations

from typing import Any, Sequence


class CrosswalkError(Exception):
    """Base of every error Crosswalk raises to its caller.

    `status_code` is the HTTP status the proxy answers with and `error_type` the OpenAI
    error JSON's `type`. `step` and `attempts` (the `Attempt`s made, each with its failure
    class) say what was tried. `code`, `retry_after_s` and `record` are None unless a kind
    of error has one, so a reader never needs `getattr`."""

    status_code = 500
    error_type = "crosswalk_error"
    code: str | None = None  # the OpenAI error JSON's `code`; else `error_type` is sent
    retry_after_s: float | None = None  # the soonest a retry can help, when known
    record: Any = None  # a crosswalk.router.records.DecisionRecord (policies cannot name router's types)

    def __init__(self, message: str, *, step: str = "", attempts: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.attempts: tuple[Any, ...] = tuple(attempts)  # crosswalk.router.records.Attempt

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(CrosswalkError, ValueError):
    """A config file cannot be used. `problems` lists one `path: message` per line;
    `source` names the file. Still a ValueError, as it always was."""

    error_type = "config_error"

    def __init__(self, problems: list[str], *, source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: " + ("\n  ".join(problems) if len(problems) > 1 else problems[0]))
