"""Stored Responses-API conversations (router/state/conversations.py): bounded in memory
(TTL on an injected clock, at most N entries, oldest written first out), and in a real
redis-server, where a second store on the same prefix (another replica) reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswalk.router.state.conversations import MemoryConversations, RedisConversations
from tests.router.test_shared_state import REDIS, RedisServer


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t


def _entry(n: int) -> dict:
    return {"response": {"id": f"resp_{n}"}, "items": [{"type": "message", "role": "user", "content": f"turn {n}"}]}


async def test_memory_store_expires_entries_and_keeps_at_most_max_entries():
    clock = Clock()
    store = MemoryConversations(ttl_s=60, max_entries=2, now=clock.now)
    await store.put("a", _entry(1))
    got = await store.get("a")
    assert got == _entry(1)
    got["items"].append({"changed": True})  # a copy: the caller may extend it
    assert await store.get("a") == _entry(1)
    clock.t += 59.9
    assert await store.get("a") is not None
    clock.t += 0.2
    assert await store.get("a") is None  # expired: never served stale, never a fresh start

    await store.put("b", _entry(2))
    await store.put("c", _entry(3))
    await store.put("d", _entry(4))
    assert len(store) == 2 and await store.get("b") is None  # the oldest written went first
    assert await store.delete("c") is True and await store.delete("c") is False
    assert await store.get("d") == _entry(4)


async def test_memory_store_drops_expired_entries_when_writing():
    clock = Clock()
    store = MemoryConversations(ttl_s=10, max_entries=100, now=clock.now)
    for n in range(5):
        await store.put(str(n), _entry(n))
    clock.t += 11
    await store.put("new", _entry(9))
    assert len(store) == 1  # memory is released, not only hidden


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")
async def test_redis_store_is_shared_by_replicas_on_the_same_prefix(tmp_path: Path):
    server = RedisServer(tmp_path).start()
    a = RedisConversations(url=server.url, prefix="cw", ttl_s=30)
    b = RedisConversations(url=server.url, prefix="cw", ttl_s=30)
    other = RedisConversations(url=server.url, prefix="elsewhere", ttl_s=30)
    try:
        await a.put("resp_1", _entry(1))
        assert await b.get("resp_1") == _entry(1)
        assert await other.get("resp_1") is None
        ttl_ms = await b._redis().pttl("cw:response:resp_1")
        assert 0 < ttl_ms <= 30_000
        assert await b.delete("resp_1") is True
        assert await a.get("resp_1") is None
    finally:
        for store in (a, b, other):
            await store.aclose()
        server.kill()


async def test_an_unreachable_redis_is_store_unavailable_not_an_unknown_id():
    from crosswalk.router.state.conversations import StoreUnavailable
    from tests.loopback import free_port

    store = RedisConversations(url=f"redis://127.0.0.1:{free_port()}/0", prefix="cw", ttl_s=30)  # nothing listens
    try:
        with pytest.raises(StoreUnavailable):
            await store.get("resp_1")  # never None: a missing store is not a missing conversation
        with pytest.raises(StoreUnavailable):
            await store.put("resp_1", _entry(1))
    finally:
        await store.aclose()
