"""Turning vendor JSON into the OpenAI SDK's own types, so existing code runs unchanged.

openai's types are imported on first use (they take about half a second to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crosswalk.router.records import DecisionRecord

if TYPE_CHECKING:
    from openai.types import CreateEmbeddingResponse
    from openai.types.chat import ChatCompletion, ChatCompletionChunk


def to_completion(body: dict[str, Any], record: DecisionRecord) -> ChatCompletion:
    """A `ChatCompletion` with the decision record at `.crosswalk`."""
    from openai.types.chat import ChatCompletion

    return _build(ChatCompletion, body, record)


def to_embeddings(body: dict[str, Any], record: DecisionRecord) -> CreateEmbeddingResponse:
    """A `CreateEmbeddingResponse` with the decision record at `.crosswalk`."""
    from openai.types import CreateEmbeddingResponse

    return _build(CreateEmbeddingResponse, body, record)


def to_chunk(body: dict[str, Any]) -> ChatCompletionChunk:
    """A `ChatCompletionChunk`."""
    from openai.types.chat import ChatCompletionChunk

    return _build(ChatCompletionChunk, body, None)


def _build(cls: Any, body: dict[str, Any], record: DecisionRecord | None) -> Any:
    from pydantic import ValidationError

    try:
        obj = cls.model_validate(body)
    except ValidationError:
        # Lenient like the openai client itself: vendors omit or bend fields.
        obj = cls.construct(**body)
    if record is not None:
        extra = obj.__pydantic_extra__
        if extra is not None:  # openai's models allow extras; skip pydantic's slow __setattr__
            extra["crosswalk"] = record
        else:
            obj.crosswalk = record
    return obj
