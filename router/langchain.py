"""`ChatCrosswalk`: a LangChain chat model that runs a Crosswalk step in-process.

    from crosswalk import Router
    from crosswalk.router.langchain import ChatCrosswalk

    llm = ChatCrosswalk(router=Router(), step="draft")
    reply = llm.invoke("Draft a reply to ticket 1234")      # AIMessage
    reply.response_metadata["provider"]                     # who answered, after failover
    reply.response_metadata["agreement"]                    # a verified step's verdict, else None

No proxy in between: the model calls the SDK (`Router.acompletion` / `Router.completion`)
directly, so failover, timeouts and cross-model agreement run in the caller's process and
the decision record comes back on the message. It plugs into LangGraph like any chat model.

This module is optional (`pip install 'crosswalk-router[langchain]'`): `import crosswalk`
never imports it, and it is the only module that imports langchain-core.
"""

from __future__ import annotations

import dataclasses

import json
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.language_models import LanguageModelInput
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, Field, PrivateAttr

from crosswalk.router import validation
from crosswalk.router.langchain_structured import Method, openai_tool_choice, openai_tools, structured

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    from crosswalk.router.records import DecisionRecord
    from crosswalk.router.sdk import Router


class ChatCrosswalk(BaseChatModel):
    """A chat model whose every call is one run of a Crosswalk step.

    `router`: the `Router` to run on (default: a `Router()` on $CROSSWALK_CONFIG or the
    embedded config, built on first use). `step`: the step to run; a per-call `model=`
    names another step, as `model` does on the OpenAI face.

    Each reply's `response_metadata` carries `provider` (the provider that answered),
    `model_name` (its vendor model), `step`, `attempts` (`provider:result` per attempt),
    `failovers`, and `agreement`: for a verified step a dict with `decision` (agreed,
    disagreed, inconclusive), `score`, `agreeing` and `dissenting` votes; None otherwise;
    and `validation`: each answer that broke one of the step's validators (provider, rule,
    message, action), [] when none did; `seams`: each amount of the request that is a near
    miss of one an earlier step of the run answered (from_step, to_step, answered,
    received, kind, action), [] when none was.
    `run`: the pipeline run every call belongs to (a per-call `run=` wins); default: the
    current trace id, if any. A LangGraph app passes one per invocation, e.g. through
    `config={"configurable": ...}` into its nodes, or builds one ChatCrosswalk per run."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    router: Any = Field(default=None, exclude=True)
    step: str = Field(alias="model")
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    stream_usage: bool = True
    """Ask for token usage at the end of a stream (`stream_options.include_usage`)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other OpenAI request fields sent with every call (response_format, seed, ...)."""
    run: str | None = None
    """The pipeline run the calls are steps of (seam checks); a per-call `run=` wins."""

    _own_router: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "crosswalk"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"step": self.step, "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(ls_provider="crosswalk", ls_model_name=kwargs.get("model") or self.step, ls_model_type="chat")
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def bind_tools(self, tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool], *,
                   tool_choice: dict[str, Any] | str | bool | None = None, strict: bool | None = None,
                   parallel_tool_calls: bool | None = None, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """This model with `tools` (any tool LangChain can convert) on every call.
        `tool_choice`: "auto", "none", "required"/"any"/True, or a tool's name to force it."""
        params: dict[str, Any] = {"tools": openai_tools(tools, strict=strict), **kwargs}
        choice = openai_tool_choice(tool_choice)
        if choice is not None:
            params["tool_choice"] = choice
        if parallel_tool_calls is not None:
            params["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(**params)

    def with_structured_output(self, schema: dict[str, Any] | type | None = None, *, method: Method = "function_calling",
                               include_raw: bool = False, strict: bool | None = None,
                               **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """This model answering in `schema`'s shape (a pydantic model, a TypedDict, a JSON
        schema): by a forced function call (`function_calling`, the default), a
        `json_schema` response_format, or `json_mode`. `include_raw`: return
        {"raw", "parsed", "parsing_error"} instead of the parsed answer."""
        if kwargs:
            raise TypeError(f"with_structured_output: unexpected arguments {sorted(kwargs)}")
        return structured(self, schema, method=method, include_raw=include_raw, strict=strict)

    def _router(self) -> Router:
        if self.router is not None:
            return self.router  # type: ignore[no-any-return]
        if self._own_router is None:
            from crosswalk.router.sdk import Router

            self._own_router = Router()
        return self._own_router  # type: ignore[no-any-return]

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], *,
                 streaming: bool = False) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(step, OpenAI messages, request params) for one call; per-call kwargs win."""
        kwargs = dict(kwargs)
        kwargs.pop("stream", None)  # each method decides streaming itself
        named = kwargs.pop("model", None), kwargs.pop("step", None)  # neither is a request field
        step = named[0] or named[1] or self.step
        run = kwargs.pop("run", None) or self.run  # not a request field: the SDK's run= argument
        params: dict[str, Any] = {**self.model_kwargs, **({"run": run} if run else {})}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        stop = stop or self.stop
        if stop:
            params["stop"] = stop
        if streaming and self.stream_usage:
            params["stream_options"] = {"include_usage": True}
        params.update(kwargs)
        return step, to_openai_messages(messages), params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        step, wire, params = self._request(messages, stop, kwargs)
        completion = self._router().completion(step=step, messages=wire, **params)
        return _result(completion, step, self._router())

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        step, wire, params = self._request(messages, stop, kwargs)
        completion = await self._router().acompletion(step=step, messages=wire, **params)
        return _result(completion, step, self._router())

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        step, wire, params = self._request(messages, stop, kwargs, streaming=True)
        router = self._router()
        stream = router.completion(step=step, messages=wire, stream=True, **params)
        vendor_id = None
        try:
            for chunk in stream:
                vendor_id = chunk.id or vendor_id
                piece = _chunk(chunk)
                if piece is None:
                    continue
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece.text, chunk=piece)
                yield piece
            yield _closing_chunk(stream.crosswalk, step, router, vendor_id)
        finally:
            stream.close()  # a consumer that stops early cancels the upstream call

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        step, wire, params = self._request(messages, stop, kwargs, streaming=True)
        router = self._router()
        stream = await router.acompletion(step=step, messages=wire, stream=True, **params)
        vendor_id = None
        try:
            async for chunk in stream:
                vendor_id = chunk.id or vendor_id
                piece = _chunk(chunk)
                if piece is None:
                    continue
                if run_manager is not None:
                    await run_manager.on_llm_new_token(piece.text, chunk=piece)
                yield piece
            yield _closing_chunk(stream.crosswalk, step, router, vendor_id)
        finally:
            await stream.aclose()


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI chat messages: system, human -> user, ai -> assistant
    (with its tool calls), tool -> tool (with its tool_call_id)."""
    return convert_to_openai_messages(list(messages))


def decision_metadata(record: DecisionRecord | None, router: Router) -> dict[str, Any]:
    """The decision record as plain JSON-able metadata (LangGraph checkpoints and LangSmith
    traces serialize messages, so the record object itself does not go on them)."""
    if record is None:
        return {}
    conf = router.config.providers.get(record.provider) if record.provider else None
    meta: dict[str, Any] = {
        "provider": record.provider,
        "model_name": conf.model if conf is not None else record.provider,
        "step": record.step,
        "attempts": [a.short() for a in record.attempts],
        "failovers": record.failovers,
        "agreement": None,
        "validation": validation.as_json(record),
        "seams": [dataclasses.asdict(flag) for flag in record.seams],
    }
    agreement = record.agreement
    if agreement is not None:
        meta["agreement"] = {
            "decision": str(agreement.decision),
            "score": agreement.score,
            "comparator": agreement.comparator,
            "quorum": agreement.quorum,
            "mode": agreement.mode,
            "agreeing": [{"provider": v.provider, "answer": v.answer} for v in agreement.agreeing],
            "dissenting": [{"provider": v.provider, "answer": v.answer} for v in agreement.dissenting],
            "failed": list(agreement.failed),
            "differences": list(agreement.differences),
        }
    return meta


def _usage(usage: Any) -> UsageMetadata | None:
    if usage is None:
        return None
    prompt = getattr(usage, "prompt_tokens", None) or 0
    completion = getattr(usage, "completion_tokens", None) or 0
    total = getattr(usage, "total_tokens", None) or prompt + completion
    return UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=total)


def _result(completion: ChatCompletion, step: str, router: Router) -> ChatResult:
    record: DecisionRecord | None = getattr(completion, "crosswalk", None)
    decided = decision_metadata(record, router)
    generations = []
    for choice in completion.choices:  # n > 1 gives several; usage is the completion's, on the first
        tool_calls, invalid = [], []
        for call in getattr(choice.message, "tool_calls", None) or []:
            function = getattr(call, "function", None)
            if function is None:  # a custom (non-function) tool call: nothing LangChain can run
                continue
            try:
                tool_calls.append(tool_call(name=function.name, args=json.loads(function.arguments or "{}"), id=call.id))
            except json.JSONDecodeError as exc:
                invalid.append(invalid_tool_call(name=function.name, args=function.arguments, id=call.id, error=str(exc)))
        # The vendor's id goes in the metadata, not on the message: ids from different vendors
        # (or simulated ones) can repeat, and LangGraph's add_messages replaces a message
        # whose id it has seen. LangChain gives the message a unique run id instead.
        metadata = {**decided, "id": completion.id, "finish_reason": choice.finish_reason}
        if completion.model:  # the model that answered, as its vendor names it
            metadata["model_name"] = completion.model
        metadata.setdefault("step", step)
        ai = AIMessage(
            content=choice.message.content or "",
            tool_calls=tool_calls,
            invalid_tool_calls=invalid,
            response_metadata=metadata,
            usage_metadata=_usage(completion.usage) if not generations else None,
        )
        generations.append(ChatGeneration(message=ai, generation_info={"finish_reason": choice.finish_reason}))
    return ChatResult(generations=generations)


def _chunk(chunk: ChatCompletionChunk) -> ChatGenerationChunk | None:
    """One streamed piece of text (or of tool calls); the finishing one carries usage."""
    usage = _usage(chunk.usage)
    if not chunk.choices:
        if usage is None:
            return None
        return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))
    choice = chunk.choices[0]
    delta = choice.delta
    calls = [
        tool_call_chunk(name=c.function.name if c.function else None, args=c.function.arguments if c.function else None,
                        id=c.id, index=c.index)
        for c in (delta.tool_calls or [])
    ]
    finished = {"finish_reason": choice.finish_reason} if choice.finish_reason is not None else {}
    message = AIMessageChunk(content=delta.content or "", tool_call_chunks=calls, response_metadata=finished,
                             usage_metadata=usage)
    return ChatGenerationChunk(message=message, generation_info=finished or None)


def _closing_chunk(record: DecisionRecord, step: str, router: Router, last_id: str | None) -> ChatGenerationChunk:
    """An empty chunk after the stream ends, carrying the decision record: only then are its
    attempts complete. It comes once, because LangChain adds chunks' metadata together
    (strings concatenate), so the record cannot ride on every chunk."""
    metadata = decision_metadata(record, router)
    metadata.setdefault("step", step)
    if last_id:
        metadata["id"] = last_id
    return ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata=metadata))
