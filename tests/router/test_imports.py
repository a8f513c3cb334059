"""`import crosswalk` stays light: no litellm, no openai, no aiohttp until they are used."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(stmt: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{stmt}\nimport sys; print(' '.join(sys.modules))"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_router_loads_no_heavy_dependency():
    mods = _modules_after("import crosswalk")
    assert not {"litellm", "openai", "aiohttp", "pydantic"} & mods


def test_router_class_loads_without_litellm_or_openai():
    mods = _modules_after("from crosswalk import Router")
    assert "litellm" not in mods and "openai" not in mods


def test_simulated_config_never_imports_litellm():
    mods = _modules_after(
        "import asyncio\nfrom crosswalk import Router\nr = Router()\n"
        "asyncio.run(r.acompletion(step='draft', messages=[{'role': 'user', 'content': 'hi'}]))"
    )
    assert "litellm" not in mods and "openai" in mods


def test_config_schema_does_not_import_the_http_client():
    # Pure validation runs the wire checks from providers.wire_checks, not from the client.
    mods = _modules_after("import crosswalk.policies.schema\nimport crosswalk.policies.parse")
    assert "crosswalk.providers.wire_checks" in mods
    assert not {"crosswalk.providers.http1", "httptools", "ssl", "asyncio"} & mods
