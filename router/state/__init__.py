"""Routing state, in one home: the in-memory book (`RouterState`, `book.py`), the values it
hands out (`Standing` snapshots and change `Event`s, `standing.py`), and, when configured,
its Redis sync across replicas (`redis_sync.py`, with the wire form in `wire.py` and the
fleet's retry budget in `redis_budget.py`; imported only where used).

Nothing outside this package writes routing state or reads its books: callers use the
book's methods and the `Standing` snapshot."""

from __future__ import annotations

from crosswalk.router.state.book import RouterState
from crosswalk.router.state.standing import STATES, Event, Lift, Standing, StandingState

__all__ = ["RouterState", "Standing", "StandingState", "STATES", "Event", "Lift"]
