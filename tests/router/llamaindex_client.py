"""LlamaIndex's `OpenAILike`, with its defaults, against a `crosswalk serve`: run by
tests/router/test_llamaindex_http.py with the side environment's python (LlamaIndex needs
openai<3, the test environment has openai 3), so it imports nothing of the tests.

    python llamaindex_client.py BASE_URL API_KEY

prints one JSON object: what each call returned, as LlamaIndex hands it to its caller.
"""

from __future__ import annotations

import json
import logging
import sys

import openai
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike


class Requests(logging.Handler):
    """The method and path of each request httpx sent (from its own log), so the test sees
    which endpoint each LlamaIndex call used."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("HTTP Request:") and isinstance(record.args, tuple):
            self.sent.append(f"{record.args[0]} {record.args[1].path} {record.args[3]}")


def main(base_url: str, api_key: str) -> None:
    """Each call on the `draft` step (primary first) and on `fallback` (a provider that
    answers 503, then the secondary): completions by default, chat with is_chat_model."""
    llm = OpenAILike(model="draft", api_base=base_url, api_key=api_key)  # the defaults: /v1/completions
    chat = OpenAILike(model="draft", api_base=base_url, api_key=api_key, is_chat_model=True)
    fallback = OpenAILike(model="fallback", api_base=base_url, api_key=api_key)
    requests = Requests()
    logging.getLogger("httpx").addHandler(requests)
    logging.getLogger("httpx").setLevel(logging.INFO)
    said = [ChatMessage(role="user", content="Say hi")]
    out = {
        "openai": openai.__version__,
        "is_chat_model": llm.metadata.is_chat_model,
        "complete": llm.complete("Say hi").text,
        "stream_complete": [r.delta for r in llm.stream_complete("Say hi")],
        "chat": chat.chat(said).message.content,
        "stream_chat": [r.delta for r in chat.stream_chat(said)],
        "fallback_complete": fallback.complete("Say hi").text,
        "fallback_stream_complete": "".join(r.delta or "" for r in fallback.stream_complete("Say hi")),
        "requests": requests.sent,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
