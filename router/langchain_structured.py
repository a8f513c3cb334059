"""Tools and structured output for `ChatCrosswalk` (router/langchain.py), the LangChain way:
tools and schemas become OpenAI tool and response_format fields (the step's request is
OpenAI-shaped), and the answer is parsed back by langchain-core's own parsers.

Optional like router/langchain.py: only that module imports this one."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal, Sequence

from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_function, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

Method = Literal["function_calling", "json_schema", "json_mode"]


def openai_tools(tools: Sequence[Any], *, strict: bool | None) -> list[dict[str, Any]]:
    """Any tool LangChain can convert (a BaseTool, a function, a pydantic model, a
    TypedDict, a JSON schema, an OpenAI tool dict) as OpenAI function tools."""
    return [convert_to_openai_tool(t, strict=strict) for t in tools]


def openai_tool_choice(choice: Any) -> Any:
    """LangChain's tool_choice spellings as OpenAI's: a tool name forces that tool; "any"
    and True mean "required"."""
    if choice is None or choice is False:
        return None
    if choice is True or choice == "any":
        return "required"
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": choice}}
    return choice


def _is_model(schema: Any) -> bool:
    return isinstance(schema, type) and is_basemodel_subclass(schema)


def _response_format(schema: Any, strict: bool | None) -> dict[str, Any]:
    function = convert_to_openai_function(schema, strict=strict)
    spec: dict[str, Any] = {"name": function["name"], "schema": function["parameters"]}
    if function.get("description"):
        spec["description"] = function["description"]
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def structured(model: Any, schema: Any, *, method: Method, include_raw: bool, strict: bool | None) -> Runnable[Any, Any]:
    """`model` answering in `schema`'s shape: a forced function call (`function_calling`),
    a `json_schema` response_format, or `json_mode`; parsed into the pydantic model, or a dict."""
    if schema is None and method != "json_mode":
        raise ValueError(f"with_structured_output: method '{method}' needs a schema")
    trace = {"kwargs": {"method": method, "strict": strict}, "schema": convert_to_json_schema(schema) if schema is not None else None}
    if method == "function_calling":
        name = convert_to_openai_tool(schema)["function"]["name"]
        bound = model.bind_tools([schema], tool_choice=name, strict=strict, parallel_tool_calls=False,
                                 ls_structured_output_format=trace)
        parser: Runnable[Any, Any] = (PydanticToolsParser(tools=[schema], first_tool_only=True) if _is_model(schema)
                                      else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True))
    elif method == "json_schema":
        bound = model.bind(response_format=_response_format(schema, strict), ls_structured_output_format=trace)
        parser = PydanticOutputParser(pydantic_object=schema) if _is_model(schema) else JsonOutputParser()
    elif method == "json_mode":
        bound = model.bind(response_format={"type": "json_object"}, ls_structured_output_format=trace)
        parser = PydanticOutputParser(pydantic_object=schema) if _is_model(schema) else JsonOutputParser()
    else:
        raise ValueError(f"with_structured_output: unknown method '{method}' (use function_calling, json_schema or json_mode)")
    if not include_raw:
        return bound | parser
    parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    with_fallback = parsed.with_fallbacks([failed], exception_key="parsing_error")
    return RunnableMap(raw=bound) | with_fallback | RunnableLambda(lambda x: x)
