"""Live config reload for the proxy: on SIGHUP and when the file changes. A bad new file
keeps the old config serving, and says why (log, /readyz, provider-state endpoint).

A reload never weakens security: a file that leaves no API key (none in proxy.api_keys,
none in CROSSWALK_API_KEYS) is refused like a bad file while the proxy listens on a
non-loopback address, which is exactly what start-up refuses; on loopback it applies,
with a warning."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from pathlib import Path

from crosswalk.router import logs
from crosswalk.router.auth import is_loopback, keys_from
from crosswalk.router.background import cancel_and_wait
from crosswalk.router.configfile import MAX_FEED_BYTES, feed_path, load_config
from crosswalk.router.errors import ConfigError
from crosswalk.router.proxy import ProxyState

log = logging.getLogger("crosswalk.reload")


def _fingerprint(path: Path) -> str | None:
    """Hash of the config file and of the compliance feed it names (either changing
    reloads). Only as much of each is read as the loader would accept, plus a byte: an
    oversized file (or a device named as one) costs no more, and the loader says why it
    is refused."""
    try:
        digest = hashlib.sha256(_digest(path))
    except OSError:
        return None
    feed = feed_path(path)
    if feed is not None:
        try:
            digest.update(_digest(feed))
        except OSError:
            digest.update(b"(feed missing)")
    return digest.hexdigest()


def _digest(path: Path) -> bytes:
    with path.open("rb") as fh:
        return hashlib.sha256(fh.read(MAX_FEED_BYTES + 1)).digest()


class ConfigWatcher:
    """Polls the config file's content hash and reloads on change or on `trigger()`."""

    def __init__(self, proxy: ProxyState, path: Path) -> None:
        self.proxy = proxy
        self.path = path
        self._seen = _fingerprint(path)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching; SIGHUP triggers an immediate reload where signals exist."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.trigger)
        except (NotImplementedError, RuntimeError, AttributeError):
            pass  # not the main thread, or no SIGHUP here: polling still works
        self._task = asyncio.create_task(self._run())

    def trigger(self) -> None:
        """Reload now."""
        self._seen = None
        self._wake.set()

    async def stop(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.proxy.runtime.config.proxy.reload_interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                fingerprint = await asyncio.to_thread(_fingerprint, self.path)
                if fingerprint is not None and fingerprint != self._seen:
                    self._seen = fingerprint
                    await self.reload()
            except Exception as exc:  # noqa: BLE001 (the watcher must outlive whatever a file holds)
                self._reject(f"{self.path}: the reload failed ({type(exc).__name__}: {exc}); fix the file, "
                             "the next change or SIGHUP tries again")

    async def reload(self) -> bool:
        """Load the file (in a thread: parsing a large file must not hold the event loop
        that serves requests and probes); apply it if it is valid. Returns whether it was
        applied."""
        try:
            config = await asyncio.to_thread(load_config, self.path)
        except ConfigError as exc:
            return self._reject(str(exc))
        keys = keys_from(config.proxy.api_keys)  # CROSSWALK_API_KEYS still counts
        host = self.proxy.host or "an unknown address"
        if not keys and not is_loopback(self.proxy.host):
            return self._reject(
                f"{config.source}: proxy.api_keys: the new file sets no API keys (and CROSSWALK_API_KEYS is empty), "
                f"but the proxy listens on {host}, which is not loopback; put the keys back in proxy.api_keys, "
                "or restart bound to 127.0.0.1. The previous keys stay in force")
        if not keys and self.proxy.keys:
            log.warning("crosswalk: config reload turns API-key authentication off (%s sets no proxy.api_keys and "
                        "CROSSWALK_API_KEYS is empty); allowed only because %s is loopback", config.source, host)
        await self.proxy.runtime.swap(config)
        self.proxy.keys = keys
        self.proxy.reload_error = None
        self.proxy.reloaded_at = self.proxy.runtime.clock.wall().isoformat(timespec="seconds")
        logs.event(log, logging.INFO, "reload", None, "crosswalk: config reloaded from %s (%d providers, %d steps)", self.path,
                   len(config.providers), len(config.steps), path=str(self.path), ok=True)
        return True

    def _reject(self, reason: str) -> bool:
        """Keep the old config (and its keys) serving; say why where operators look."""
        self.proxy.reload_error = reason
        logs.event(log, logging.WARNING, "reload", None, "crosswalk: config reload rejected, still serving the previous config: %s",
                   reason, path=str(self.path), ok=False, reason=reason)
        return False
