"""Counting this process's open sockets to a port, from /proc (Linux): what a leak test
asserts on, whatever the client library."""

from __future__ import annotations

import os
from pathlib import Path


def open_sockets_to(port: int) -> int:
    """How many of this process's file descriptors are TCP sockets whose peer port is
    `port` (in any state: a CLOSE_WAIT socket is still an open descriptor)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def have_proc() -> bool:
    """Whether /proc can answer (Linux)."""
    return Path("/proc/self/fd").is_dir() and Path("/proc/net/tcp").exists()
