"""langchain-tests' standard chat-model suites, run on `ChatCrosswalk` with tool calling and
structured output enabled. The model's step runs on a Router whose provider is a loopback
fake OpenAI vendor in agent mode (tests/agent_vendor.py: it calls tools and fits JSON
schemas), served from its own thread, since the suites call the model from sync and async
tests alike. Multimodal inputs stay off (the fake vendor reads text). The suites' per-call
model override tests stay skipped (they expect the vendor model's name to contain the
value passed; here `model=` names a step): test_langchain.py covers the step override."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from crosswalk import Router
from crosswalk.policies.parse import parse_config
from crosswalk.router.langchain import ChatCrosswalk
from tests.fakevendor import FakeVendor


class _VendorThread:
    """A fake agent vendor served on its own event loop thread for the whole module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.vendor = asyncio.run_coroutine_threadsafe(FakeVendor("v", agent=True).start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.vendor.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


_STATE: dict[str, Any] = {}


def _router() -> Router:
    if "router" not in _STATE:
        vendor = _VendorThread()
        yaml = (f"providers:\n  v: {{kind: openai, model: m-v, base_url: '{vendor.vendor.base_url}', api_key: k}}\n"
                "steps:\n  draft: {providers: [v]}\n")
        _STATE.update(vendor=vendor, router=Router(parse_config(yaml, env={}, source="standard-suite")))
    return _STATE["router"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module", autouse=True)
def _close_router() -> Iterator[None]:
    yield
    if "router" in _STATE:
        _STATE.pop("router").close()
        _STATE.pop("vendor").stop()


@pytest.fixture
def benchmark(benchmark: Any) -> Any:
    """The suites time construction with pytest-benchmark; this project asserts no timings,
    so the benchmark is disabled: the function runs once (it must not raise), unmeasured."""
    benchmark.disabled = True
    return benchmark


class _OnTheDraftStep:
    """The model under test, for both standard suites: ChatCrosswalk on the draft step."""

    @property
    def chat_model_class(self) -> type[ChatCrosswalk]:
        return ChatCrosswalk

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": _router(), "step": "draft"}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True


class TestChatCrosswalkUnit(_OnTheDraftStep, ChatModelUnitTests):
    """langchain-tests' unit suite."""


class TestChatCrosswalkIntegration(_OnTheDraftStep, ChatModelIntegrationTests):
    """langchain-tests' integration suite."""
