"""nginx from Debian's package as the benchmarks' C yardstick, started by the bench itself on
loopback with a config it writes into a temporary directory (never the system service).

Two roles: a fast upstream (fixed answers from memory, so the upstream is not what limits a
proxy's req/s) and a pass-through proxy (what a C proxy does with the same traffic). Both run
as one process (`master_process off`), so its CPU time is one /proc entry."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.perf.conftest import pinned
from tests.perf.upstream import BODY, REQUEST_ID

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_HEAD = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log error;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
{servers}
}}
"""


def _conf(dir_: Path, servers: str) -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    conf = dir_ / "nginx.conf"
    conf.write_text(_HEAD.format(dir=dir_, servers=servers))
    return conf


def _start(conf: Path, cpu: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(pinned([NGINX, "-p", str(conf.parent), "-e", str(conf.parent / "error.log"), "-c", str(conf)], cpu),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fast_upstream(dir_: Path, ports: list[int], *, cpu: int = 0) -> subprocess.Popen[bytes]:
    """nginx answering POST /v1/chat/completions on each of `ports` with upstream.py's fixed
    completion (and its request id), from memory."""
    (rid_name, rid_value), = REQUEST_ID.items()
    # nginx reads `$name` in a string as a variable and has no escape for `$`: a geo block
    # (an unconditional variable) supplies the character.
    body = BODY.decode().replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}")
    servers = '\n  geo $dollar { default "$"; }' + "".join(f"""
  server {{
    listen 127.0.0.1:{port};
    location = /v1/chat/completions {{
      default_type application/json;
      add_header {rid_name} {rid_value};
      return 200 '{body}';
    }}
  }}""" for port in ports)
    return _start(_conf(dir_, servers), cpu)


def pass_through(dir_: Path, *, port: int, ranked: list[str], stream_port: int, stream_upstream: str,
                 cpu: int = 1) -> subprocess.Popen[bytes]:
    """nginx proxying on `port` to `ranked` origins ("host:port"; the first serves, the rest
    are backups, as Crosswalk's ranked providers), and on `stream_port` to `stream_upstream`
    unbuffered (each piece of an event stream forwarded as it arrives), with upstream
    keep-alive, as a production nginx in front of an LLM API is set up."""
    first, *backups = ranked
    servers = f"""
  upstream ranked {{
    server {first};
{''.join(f'    server {b} backup;{chr(10)}' for b in backups)}    keepalive 64;
  }}
  upstream streaming {{
    server {stream_upstream};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://ranked;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
  server {{
    listen 127.0.0.1:{stream_port};
    location / {{
      proxy_pass http://streaming;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}"""
    return _start(_conf(dir_, servers), cpu)
