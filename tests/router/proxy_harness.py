"""Runs `crosswalk serve` as a real process on a free loopback port, for proxy tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Callable

from tests.eventually import eventually_sync
from tests.loopback import free_port


class ProxyProcess:
    """`crosswalk serve --config FILE --port N` in a child process; logs go to a file."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None, host: str = "127.0.0.1", extra: list[str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.port = free_port()
        self.host = host
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = config.with_suffix(".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(config), "--host", host, "--port", str(self.port), *(extra or [])],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
        )

    def wait_ready(self, timeout: float = 20.0) -> "ProxyProcess":
        try:
            eventually_sync(self._healthy, within=timeout, what="the proxy answers /healthz")
        except AssertionError:
            raise RuntimeError(f"proxy did not start: {self.log()}") from None
        return self

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"proxy exited with {self.proc.returncode}: {self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=0.5):
                return True
        except OSError:
            return False

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # at once; SIGTERM would drain first (proxy.drain_s)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
