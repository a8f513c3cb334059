"""The demo's semantic scene on config/default.yaml: a vendor that swaps who bought whom is
caught by the role check (the cosine alone would call it the same), with its reason; and
without the [local] extra the scene says it is skipped instead of failing."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from crosswalk.providers.local_embeddings import local_available
from crosswalk.router import demo
from crosswalk.router.sdk import Router

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not local_available(), reason="the [local] extra is not installed")
@pytest.mark.timeout(600)  # the first embedding loads torch and the model
async def test_the_semantic_scene_catches_swapped_roles_with_its_reason():
    router = Router(str(ROOT / "config" / "default.yaml"), rng=random.Random(7))
    out = io.StringIO()
    await demo._semantic_phase(router, out)
    await router.aclose()
    text = out.getvalue()
    assert "decision: disagreed" in text
    dissent = next(line for line in text.splitlines() if "DISSENTS" in line)
    assert "gamma-open" in dissent and "roles differ: Google and YouTube swap places around 'acquired'" in dissent
    assert "similarity 0.9" in dissent  # the cosine alone would have agreed
    passive = next(line for line in text.splitlines() if "beta-pro" in line)
    assert "agrees" in passive  # "YouTube was bought by Google" is the same fact


async def test_without_the_local_extra_the_scene_is_skipped_with_a_clear_line(monkeypatch):
    import crosswalk.providers.local_embeddings as local

    monkeypatch.setattr(local, "local_available", lambda: False)
    router = Router(str(ROOT / "config" / "default.yaml"), rng=random.Random(7))
    out = io.StringIO()
    await demo._semantic_phase(router, out)
    await router.aclose()
    assert "skipped: the [local] extra is not installed" in out.getvalue()
    assert router.runtime.providers["gamma-open"].calls == 0  # type: ignore[attr-defined]


def test_a_router_on_the_default_config_imports_no_torch():
    """`embeddings: local` builds its embedder at start; torch loads only on the first embedding."""
    import subprocess
    import sys

    code = ("import sys; from crosswalk import Router; r = Router(); assert 'local' in r.runtime.providers; "
            "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
