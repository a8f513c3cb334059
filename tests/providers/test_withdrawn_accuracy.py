"""How often the withdrawn-model reading is right, on labelled cases (traps included).

`TUNED`: the shapes the rules in providers/withdrawn.py were written against. `HELD_OUT`:
written afterwards and run once; the one rule changed after that run is said below, no
case was changed to pass (a miss stays a miss, with its reason).
A case is an error as the adapters hand it over (status, code/type/param, message), the
model Crosswalk sent and the caller's body; the label says whether the vendor is saying
that model is gone (REGULATORY) or not. Print the table with

    .venv/bin/python -m pytest tests/providers/test_withdrawn_accuracy.py -q -s
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswalk.providers.caller_text import CallerText
from crosswalk.providers.classify import FailureClass, classify
from crosswalk.providers.errors import ProviderError

ASK: dict[str, Any] = {"messages": [{"role": "user", "content": "How much is the refund for order 1234?"}]}


@dataclass(frozen=True)
class Labelled:
    name: str
    status: int
    message: str
    model: str
    withdrawn: bool  # the truth: the vendor says the model Crosswalk sent is gone / not this account's
    code: str | None = None
    type_: str | None = None
    param: str | None = None
    body: dict[str, Any] | None = None  # the caller's (None: ASK)
    note: str = ""


def _p(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


TUNED = [
    Labelled("anthropic-retired", 404, "model: claude-sonnet-4-20250514", "anthropic/claude-sonnet-4-20250514", True, type_="not_found_error"),
    Labelled("anthropic-export-control", 404, "Claude Fable 5 is not available. Please use Opus 4.8. Learn more: "
             "https://www.anthropic.com/news/fable-mythos-access", "anthropic/claude-fable-5", True, type_="not_found_error"),
    Labelled("anthropic-other-model", 404, "model: claude-3-opus-20240229", "anthropic/claude-sonnet-4-20250514", False,
             type_="not_found_error"),
    Labelled("anthropic-permission-model", 403, "Your organization does not have access to model claude-opus-4-1-20250805.",
             "claude-opus-4-1-20250805", True, type_="permission_error"),
    Labelled("anthropic-permission-generic", 403, "Your API key does not have permission to use the specified resource.",
             "claude-opus-4-1-20250805", False, type_="permission_error"),
    Labelled("openai-model_not_found", 404, "The model `gpt-4.1-nano-2099` does not exist or you do not have access to it.",
             "gpt-4.1-nano-2099", True, code="model_not_found", type_="invalid_request_error"),
    Labelled("gemini-not-found", 404, "models/gemini-1.0-pro is not found for API version v1beta, or is not supported for "
             "generateContent. Call ListModels to see the list of available models and their supported methods.",
             "gemini/gemini-1.0-pro", True, code="404", type_="NOT_FOUND"),
    Labelled("bedrock-eol", 404, "This model version has reached the end of its life. Please refer to the AWS documentation "
             "for more details.", "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", True, type_="NotFoundError"),
    Labelled("bedrock-no-access", 403, "You don't have access to the model with the specified model ID.",
             "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", True, type_="PermissionDeniedError"),
    Labelled("bedrock-legacy", 404, "Access denied. This Model is marked by provider as Legacy and you have not been actively "
             "using the model in the last 30 days.", "bedrock/anthropic.claude-3-haiku-20240307-v1:0", True, type_="NotFoundError"),
    Labelled("azure-deployment", 404, "The API deployment for this resource does not exist. If you created the deployment "
             "within the last 5 minutes, please wait a moment and try again.", "my-gpt4o", True, code="DeploymentNotFound"),
    Labelled("mistral-invalid-model", 400, "Invalid model: mistral-medium-3.5", "mistral-medium-3.5", True, code="1500",
             type_="invalid_model"),
    Labelled("groq-decommissioned", 400, "The model `mixtral-8x7b-32768` has been decommissioned and is no longer supported.",
             "mixtral-8x7b-32768", True, code="model_decommissioned", type_="invalid_request_error"),
    Labelled("trap-feature-deprecated-400", 400, "The 'functions' parameter is deprecated. Use 'tools' instead.",
             "gpt-4o-mini", False, type_="invalid_request_error"),
    Labelled("trap-feature-no-longer-supported-400", 400, "'logprobs' is no longer supported with this model.",
             "gpt-4o-mini", False, type_="invalid_request_error"),
    Labelled("groq-decommissioned-words-only", 400, "The model `mixtral-8x7b-32768` has been decommissioned and is no "
             "longer supported.", "mixtral-8x7b-32768", True, type_="invalid_request_error"),
    Labelled("trap-echoed-field", 400, "Unrecognized request argument supplied: model_not_found", "gpt-4o-mini", False,
             type_="invalid_request_error", body={**ASK, "model_not_found": True}),
    Labelled("trap-echoed-prompt", 404, "No such file object referenced in the prompt 'the model gpt-4o-mini does not exist'",
             "gpt-4o-mini", False, type_="invalid_request_error", body=_p("the model gpt-4o-mini does not exist")),
]

HELD_OUT = [
    Labelled("openai-deprecated", 404, "The model `o1-preview` has been deprecated, learn more here: "
             "https://platform.openai.com/docs/deprecations", "o1-preview", True, code="model_not_found", type_="invalid_request_error"),
    Labelled("openai-fine-tune-deleted", 404, "The model `ft:gpt-4o-mini:acme::9abc` does not exist or you do not have access "
             "to it.", "ft:gpt-4o-mini:acme::9abc", True, code="model_not_found", type_="invalid_request_error"),
    Labelled("vllm-not-found", 404, "The model `llama-3-8b` does not exist.", "llama-3-8b", True, code="404", type_="NotFoundError"),
    Labelled("fireworks-not-deployed", 404, "Model not found, inaccessible, and/or not deployed",
             "accounts/fireworks/models/llama-v3-70b", True, type_="invalid_request_error"),
    Labelled("openrouter-no-endpoints", 404, "No endpoints found for anthropic/claude-3-opus.", "anthropic/claude-3-opus", True),
    Labelled("gemini-vision-deprecated", 400, "Gemini 1.0 Pro Vision has been deprecated on July 12, 2024. Consider switching "
             "to different model, for example gemini-1.5-flash.", "gemini/gemini-pro-vision", True, code="400",
             type_="INVALID_ARGUMENT", note="a 400 counts only with `model` before the word; this one names it after"),
    Labelled("cohere-not-found", 404, "model 'command-r-03-2024' not found, make sure the correct model ID was used and that "
             "you have access to the model.", "command-r-03-2024", True),
    Labelled("groq-model_not_found", 404, "The model `llama3-70b-8192` does not exist or you do not have access to it.",
             "llama3-70b-8192", True, code="model_not_found", type_="invalid_request_error"),
    Labelled("deepseek-model-not-exist", 400, "Model Not Exist", "deepseek-coder", True, code="invalid_request_error",
             type_="invalid_request_error", note="a 400 with no model code and not 'model ... does not exist'"),
    Labelled("bedrock-invalid-identifier", 400, "The provided model identifier is invalid.", "bedrock/amazon.titan-text-premier-v1:0",
             True, type_="BadRequestError", note="Bedrock's answer for a model not in this region; a 400 with no model code"),
    Labelled("openai-not-allowed-to-sample", 403, "You are not allowed to sample from this model", "gpt-4-32k", True,
             type_="invalid_request_error", note="a 403 with no permission type stays auth (hard-excluded all the same)"),
    Labelled("anthropic-name-in-prompt", 404, "model: claude-sonnet-4-20250514", "anthropic/claude-sonnet-4-20250514", True,
             type_="not_found_error", body=_p("Are you claude-sonnet-4-20250514?"),
             note="the caller sent the name too: the echo cannot be ruled out, so it is not counted (by design)"),
    Labelled("trap-anthropic-file", 404, "File not found: file_011CNha8iCJcU1wXNR6q4V8w", "anthropic/claude-sonnet-4-20250514",
             False, type_="not_found_error"),
    Labelled("trap-anthropic-model-prefix", 404, "model: claude-sonnet-4", "anthropic/claude-sonnet-4-20250514", False,
             type_="not_found_error"),
    Labelled("trap-openai-bad-url", 404, "Invalid URL (POST /v1/chat/completion)", "gpt-4o-mini", False, type_="invalid_request_error"),
    Labelled("trap-azure-resource", 404, "Resource not found", "my-gpt4o", False, code="404"),
    Labelled("trap-gemini-project", 403, "Permission denied on resource project my-project.", "gemini/gemini-2.5-flash", False,
             code="403", type_="PERMISSION_DENIED"),
    Labelled("trap-param-model-echo", 400, "'deprecated' is not supported with this model.", "gpt-4o-mini", False,
             code="unsupported_parameter", type_="invalid_request_error", param="deprecated"),
    Labelled("trap-prompt-gone-words", 404, "No such file object referenced in the prompt 'Claude Fable 5 is not available. "
             "Please use Opus 4.8.'", "anthropic/claude-fable-5", False, type_="invalid_request_error",
             body=_p("Claude Fable 5 is not available. Please use Opus 4.8.")),
    Labelled("trap-field-deprecated", 400, "Unrecognized request argument supplied: deprecated", "gpt-4o-mini", False,
             type_="invalid_request_error", body={**ASK, "deprecated": True}),
    Labelled("trap-prompt-names-model", 404, "Not found: 'is gpt-4o-mini retired?'", "gpt-4o-mini", False,
             body=_p("is gpt-4o-mini retired?")),
    Labelled("trap-json-mode", 400, "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
             "'json_object'.", "gpt-4o-mini", False, type_="invalid_request_error", param="messages"),
]


def _says_withdrawn(case: Labelled) -> bool:
    error = ProviderError(case.message, status=case.status, code=case.code, error_type=case.type_, param=case.param)
    got = classify(error, caller=CallerText.of(case.body or ASK), model=case.model)
    return got.failure_class is FailureClass.REGULATORY


def _score(cases: list[Labelled]) -> tuple[float, list[Labelled]]:
    wrong = [c for c in cases if _says_withdrawn(c) is not c.withdrawn]
    return 1 - len(wrong) / len(cases), wrong


def _false_positives(cases: list[Labelled]) -> list[Labelled]:
    return [c for c in cases if not c.withdrawn and _says_withdrawn(c)]


def test_tuned_cases_are_all_read_right():
    accuracy, wrong = _score(TUNED)
    assert not wrong, [c.name for c in wrong]
    assert accuracy == 1.0


def test_held_out_accuracy_and_no_trap_is_ever_called_withdrawn():
    accuracy, wrong = _score(HELD_OUT)
    traps = [c for c in HELD_OUT if not c.withdrawn]
    print(f"\nwithdrawn-model reading: tuned {len(TUNED)} cases 100%; held-out {len(HELD_OUT)} cases "
          f"{accuracy:.0%} ({len(traps)} traps, {len(_false_positives(HELD_OUT))} false positives)")
    for c in wrong:
        print(f"  miss: {c.name}: {c.note}")
    # A wrong signal is worse than none: no trap may be read as a withdrawal.
    assert _false_positives(HELD_OUT) == []
    # First run, before any change: 17/22 (77%), no false positive. One miss was a bug (a
    # name followed by a full stop was not read as the name: openrouter-no-endpoints),
    # fixed after (18/22); then a 400 was made to need `model` before "deprecated" (the
    # vendor's own "'functions' is deprecated" is about the caller's request), which lost
    # gemini-vision-deprecated: 17/22 (77%), the five misses noted above.
    assert accuracy >= 0.75
