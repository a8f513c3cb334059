"""What the proxy accepts: validation of chat-completion (and embeddings) bodies, and the error JSON it
answers with (OpenAI's shape: {"error": {"message", "type", "param", "code"}})."""

from __future__ import annotations

from typing import Any

from crosswalk.providers.jsonwire import dumps, loads

# Fields that would let a caller pick or redirect the upstream, or smuggle provider
# settings; upstreams come only from the Crosswalk config.
FORBIDDEN_FIELDS = frozenset({
    "api_base", "base_url", "api_key", "api_version", "custom_llm_provider", "extra_headers",
    "headers", "organization", "deployment_id", "aws_access_key_id", "aws_secret_access_key",
    "vertex_credentials", "vertex_project", "vertex_location", "mock_response", "timeout", "num_retries",
})
MAX_MODEL_CHARS = 256  # a step name; config step names are held to the same rule


class BadRequest(ValueError):
    """A request the proxy will not route; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None, *, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code


def error_body(message: str, *, type_: str, param: str | None = None, code: str | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """OpenAI's error JSON (with an optional `crosswalk` block of attempts)."""
    body: dict[str, Any] = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    if extra:
        body["crosswalk"] = extra
    return dumps(body)


def parse_chat_body(raw: bytes) -> dict[str, Any]:
    """Parse and check a chat-completions body; raise `BadRequest` naming the field."""
    body = parse_routable_body(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array of {role, content}", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(f"'messages[{i}]' must be an object", f"messages[{i}]")
        if not isinstance(message.get("role"), str):
            raise BadRequest(f"'messages[{i}].role' must be a string", f"messages[{i}].role")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("'stream' must be true or false", "stream")
    return body


def parse_routable_body(raw: bytes) -> dict[str, Any]:
    """Parse a body whose `model` names a step (chat, embeddings) and refuse fields that
    would pick or redirect the upstream; raise `BadRequest` naming the field."""
    try:
        body = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        if "depth limit" in str(exc) or "too deeply" in str(exc):
            raise BadRequest("request body is nested too deeply to be valid here", code="nested_too_deeply") from None
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required: name the Crosswalk step to run (see GET /v1/models)", "model")
    if len(model) > MAX_MODEL_CHARS or not model.isprintable():
        # It would be echoed in headers and logs: refuse it rather than escape it everywhere.
        raise BadRequest(f"'model' must be a step name of at most {MAX_MODEL_CHARS} printable characters (see GET /v1/models)", "model")
    for name in FORBIDDEN_FIELDS.intersection(body):
        raise BadRequest(f"'{name}' is not accepted: upstreams and their settings come from the Crosswalk config", name)
    return body
