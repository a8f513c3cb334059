"""CPU per upstream call for one HTTP client: `python client_cpu.py URL aiohttp|http1 N`.
Runs N POSTs to URL/chat/completions with 16 in flight after a warm-up, and prints the
process CPU time per call in microseconds (CPU, not wall time: the upstream runs on
another core, so this is the client's own cost)."""

from __future__ import annotations

import asyncio
import sys
import time

BODY = b'{"model": "bench-model", "messages": [{"role": "user", "content": "What is the refund for order 1182?"}]}'
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
IN_FLIGHT = 16


async def _aiohttp_call(url: str):
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def call() -> None:
        async with session.post(url + "/chat/completions", data=BODY, headers=HEADERS) as resp:
            await resp.read()

    return call, session.close


async def _http1_call(url: str):
    from crosswalk.providers.http1 import Origin, Pool

    pool = Pool(Origin(url))
    head = pool.origin.head("POST", "/chat/completions", HEADERS)

    async def call() -> None:
        response = await pool.request(head, BODY)
        await response.read()

    return call, pool.aclose


async def main(url: str, client: str, n: int) -> None:
    call, close = await (_aiohttp_call if client == "aiohttp" else _http1_call)(url)
    left = 0

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    for measured in (False, True):
        left = n
        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        if measured:
            print(f"{(time.process_time() - cpu) / n * 1e6:.1f}")
    await close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
