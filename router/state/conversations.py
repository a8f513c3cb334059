"""Stored Responses-API conversations, so `previous_response_id` works whoever answers.

An entry holds one response object and the conversation up to and including it, as
Responses input items (the earlier turns' input and output, this turn's input and output):
that is what the next turn replays, to any provider. It is the caller's content, kept only
for `state.responses_ttl_s` after it was written (default an hour), never for a request
sent with `store: false`, and removed by `DELETE /v1/responses/{id}`.

`MemoryConversations` keeps at most `state.responses_max_entries` (the oldest written goes
first) in this process; with `state.backend: redis` `RedisConversations` keeps them in
Redis (`{prefix}:response:{id}`, expiring on their own) so any replica serves the next turn.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Protocol

from crosswalk.policies.schema import StateSpec
from crosswalk.providers.jsonwire import dumps, loads


class StoreUnavailable(Exception):
    """The shared store could not be reached (Redis down or slow); the message says why."""


class Conversations(Protocol):
    """Where stored responses live."""

    async def get(self, response_id: str) -> dict[str, Any] | None:
        """The entry ({"response", "items"}), or None if unknown or expired."""
        ...

    async def put(self, response_id: str, entry: dict[str, Any]) -> None:
        """Store `entry` under `response_id` for the configured time."""
        ...

    async def delete(self, response_id: str) -> bool:
        """Remove the entry; False if there was none."""
        ...


class MemoryConversations:
    """Bounded in-process store: at most `max_entries`, each for `ttl_s` (on `now`, a
    monotonic clock)."""

    def __init__(self, *, ttl_s: float, max_entries: int, now: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._now = now
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, response_id: str) -> dict[str, Any] | None:
        found = self._entries.get(response_id)
        if found is None:
            return None
        if found[0] <= self._now():
            del self._entries[response_id]
            return None
        return loads(found[1])  # a copy: the caller may extend it

    async def put(self, response_id: str, entry: dict[str, Any]) -> None:
        now = self._now()
        self._entries[response_id] = (now + self.ttl_s, dumps(entry))
        self._entries.move_to_end(response_id)
        while self._entries:  # drop the expired and, past the bound, the oldest written
            oldest_id, (expires, _) = next(iter(self._entries.items()))
            if expires > now and len(self._entries) <= self.max_entries:
                break
            del self._entries[oldest_id]

    async def delete(self, response_id: str) -> bool:
        return self._entries.pop(response_id, None) is not None


class RedisConversations:
    """Entries in Redis, shared by every replica on the same `prefix`; Redis expires them."""

    def __init__(self, *, url: str, prefix: str, ttl_s: float, connect: Callable[[], Any] | None = None) -> None:
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.prefix = prefix
        self._url = url
        self._connect = connect
        self._client: Any = None

    def _key(self, response_id: str) -> str:
        return f"{self.prefix}:response:{response_id}"

    def _redis(self) -> Any:
        if self._client is None:
            if self._connect is not None:
                self._client = self._connect()
            else:
                from redis.asyncio import Redis

                self._client = Redis.from_url(self._url, socket_connect_timeout=2.0, socket_timeout=5.0)
        return self._client

    async def get(self, response_id: str) -> dict[str, Any] | None:
        raw = await self._call("get", self._key(response_id))
        return None if raw is None else loads(raw)

    async def put(self, response_id: str, entry: dict[str, Any]) -> None:
        await self._call("set", self._key(response_id), dumps(entry), px=self.ttl_ms)

    async def delete(self, response_id: str) -> bool:
        return bool(await self._call("delete", self._key(response_id)))

    async def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await getattr(self._redis(), command)(*args, **kwargs)
        except (RedisError, OSError) as exc:  # redis-py's tree, and socket errors it lets through
            raise StoreUnavailable(f"the Redis store of responses could not be reached ({type(exc).__name__})") from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def conversations_for(spec: StateSpec, *, now: Callable[[], float]) -> Conversations:
    """The store `state` asks for: Redis with `backend: redis` (shared by the replicas),
    else this process's memory, bounded by `responses_max_entries`."""
    if spec.backend == "redis" and spec.url is not None:
        return RedisConversations(url=spec.url.get_secret_value(), prefix=spec.prefix, ttl_s=spec.responses_ttl_s)
    return MemoryConversations(ttl_s=spec.responses_ttl_s, max_entries=spec.responses_max_entries, now=now)
