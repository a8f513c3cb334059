"""Side environments: venvs `make test` builds beside .venv for clients whose pins .venv
cannot share (LlamaIndex's OpenAI LLMs need openai<3; the Agents SDK and pydantic-ai in
.venv need openai>=3). Tests run such a client as a subprocess of the side environment's
python, with proxy settings that send anything not on loopback to a closed port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# name: (the variable `make test` sets to its python, where make builds it, why it is apart)
SIDE_ENVS = {"llamaindex": ("LLAMAINDEX_PYTHON", ".venv/llamaindex", "LlamaIndex needs openai<3, .venv has openai 3")}
# Anything a client would fetch (tiktoken's encodings, say) goes to a port nothing listens on.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}


def side_python(name: str) -> Path:
    """The python of side environment `name`: skips the test when it was never built
    (pytest run by hand), fails it when `make test` named one that is not there."""
    variable, default, why = SIDE_ENVS[name]
    python = Path(os.environ.get(variable) or ROOT / default / "bin" / "python")
    if not python.exists():
        if variable in os.environ:
            pytest.fail(f"{variable}={python} does not exist")
        pytest.skip(f"the {name} side environment {python.parent.parent} is not built ({why}): `make test` builds it")
    return python
