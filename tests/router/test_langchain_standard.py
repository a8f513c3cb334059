"""langchain-tests' standard chat-model suites, run on `ChatCrosswalk` over the embedded
default config (simulated vendors). Tool calling, structured output and multimodal inputs
are switched off: the simulated vendors answer text only. The suites' per-call model
override tests stay skipped (they expect the vendor model's name to contain the value
passed; here `model=` names a step): test_langchain.py covers the step override."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from crosswalk import Router
from crosswalk.router.langchain import ChatCrosswalk

_ROUTER = Router()  # one router for every model the suites build (each builds many)


@pytest.fixture(scope="module", autouse=True)
def _close_router() -> Iterator[None]:
    yield
    _ROUTER.close()


@pytest.fixture
def benchmark(benchmark: Any) -> Any:
    """The suites time construction with pytest-benchmark; this project asserts no timings,
    so the benchmark is disabled: the function runs once (it must not raise), unmeasured."""
    benchmark.disabled = True
    return benchmark


class _OnTheDraftStep:
    """The model under test, for both standard suites: ChatCrosswalk on the default draft step."""

    @property
    def chat_model_class(self) -> type[ChatCrosswalk]:
        return ChatCrosswalk

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": _ROUTER, "step": "draft"}


class TestChatCrosswalkUnit(_OnTheDraftStep, ChatModelUnitTests):
    """langchain-tests' unit suite."""


class TestChatCrosswalkIntegration(_OnTheDraftStep, ChatModelIntegrationTests):
    """langchain-tests' integration suite."""
