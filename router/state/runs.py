"""The amounts each pipeline run's steps answered, for the seam checks (router/seams.py).

A run is a caller's W3C trace id or an explicit run id. It keeps only what the rule needs:
the step name and each amount as the step wrote it (`policies.seams.amount_tokens`:
"$42.99", "42,99 €"), never the rest of a prompt or an answer. Bounded three ways (`seams:` in the config): a run is forgotten `ttl_s`
after its last answer, past `max_runs` the least recently used run goes, and a run keeps
its latest `max_amounts` amounts. Time comes from the injected clock.

Listeners hear each local answer's amounts (the Redis sync publishes them, so another
replica serving the run's next step knows them); `apply_remote` takes another replica's,
and tells no listener (no echo).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Iterable

from crosswalk.policies.schema import SeamsSpec
from crosswalk.router.clock import Clock


@dataclass(frozen=True, slots=True)
class RunAnswer:
    """One step's answer amounts in one run, as written (what listeners hear and replicas exchange)."""

    run: str
    step: str
    amounts: tuple[str, ...]


class _Run:
    __slots__ = ("expires", "answered")

    def __init__(self, expires: float, max_amounts: int) -> None:
        self.expires = expires
        self.answered: deque[tuple[str, str]] = deque(maxlen=max_amounts)  # (step, amount as written)


class RunBook:
    """Runs by id, least recently used first; see the module docstring for the bounds."""

    def __init__(self, spec: SeamsSpec, clock: Clock) -> None:
        self.spec = spec
        self.clock = clock
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._listeners: list[Callable[[RunAnswer], None]] = []

    def __len__(self) -> int:
        return len(self._runs)

    def listen(self, listener: Callable[[RunAnswer], None]) -> None:
        """Call `listener` with every local answer's amounts (cheap; must not raise)."""
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[RunAnswer], None]) -> None:
        """Stop calling `listener`."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def resize(self, spec: SeamsSpec) -> None:
        """Take new bounds (a config reload); runs over the new ones are trimmed as they are touched."""
        self.spec = spec
        while len(self._runs) > spec.max_runs:
            self._runs.popitem(last=False)

    def answered(self, run: str) -> list[tuple[str, str]]:
        """(step, amount as written) that earlier steps of `run` answered, oldest first ([]
        for an unknown or expired run)."""
        entry = self._runs.get(run)
        if entry is None:
            return []
        if entry.expires <= self.clock.now():
            del self._runs[run]
            return []
        return list(entry.answered)

    def add(self, run: str, step: str, amounts: Iterable[str]) -> None:
        """Keep the amounts `step` answered in `run`, and tell the listeners."""
        answer = RunAnswer(run, step, tuple(amounts))
        if not answer.amounts:
            return
        self._keep(answer)
        for listener in self._listeners:
            listener(answer)

    def apply_remote(self, answer: RunAnswer) -> None:
        """Another replica's answer in a run: kept like a local one, told to no listener."""
        if answer.amounts:
            self._keep(answer)

    def _keep(self, answer: RunAnswer) -> None:
        now = self.clock.now()
        entry = self._runs.get(answer.run)
        if entry is None or entry.answered.maxlen != self.spec.max_amounts:
            kept = list(entry.answered) if entry is not None else []
            entry = self._runs[answer.run] = _Run(now, self.spec.max_amounts)
            entry.answered.extend(kept)
        entry.expires = now + self.spec.ttl_s
        self._runs.move_to_end(answer.run)
        for amount in answer.amounts:
            kept = (answer.step, amount)
            if kept not in entry.answered:  # a step answering the same amount again takes no second slot
                entry.answered.append(kept)
        while len(self._runs) > self.spec.max_runs:
            self._runs.popitem(last=False)  # the least recently used run


def encode(answer: RunAnswer, *, origin: str) -> bytes:
    """One run answer as the message replicas exchange (JSON: run, step, amounts, origin)."""
    import json

    return json.dumps({"run": answer.run, "step": answer.step, "amounts": list(answer.amounts), "origin": origin}).encode()


def decode(raw: bytes | str) -> tuple[str, RunAnswer] | None:
    """(origin, answer) from a message, or None for anything malformed (never raises)."""
    import json

    try:
        data = json.loads(raw)
        amounts = tuple(data["amounts"])
        fields = (data["run"], data["step"], data["origin"], *amounts)
    except (ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(f, str) and len(f) <= 256 for f in fields):
        return None
    return data["origin"], RunAnswer(data["run"], data["step"], amounts)
