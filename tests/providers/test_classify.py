"""The classifier over error payloads as vendors really send them.

Every row is served by a real aiohttp server on loopback and read back by a real adapter:
`OpenAIWireProvider` for the OpenAI-compatible endpoints (OpenAI, Azure, Groq,
OpenRouter, DeepSeek, and the OpenAI-compatible endpoints of Anthropic and Gemini), and
`LiteLLMProvider` (litellm's own Anthropic, Gemini and Bedrock clients pointed at the
loopback server) for the `litellm` kind. Anthropic and Gemini rows run through both
adapters: the failure class must not depend on which one was configured.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import pytest
from multidict import CIMultiDict

from crosswalk.providers.base import ChatRequest
from crosswalk.providers.classify import HARD, Classification, FailureClass, classify, parse_retry_after
from crosswalk.providers.errors import (
    MalformedResponse,
    OutputRejected,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    StreamBroken,
)
from crosswalk.providers.anthropic_wire import AnthropicProvider
from crosswalk.providers.litellm_adapter import LiteLLMProvider
from crosswalk.providers.openai_wire import OpenAIWireProvider
from crosswalk.providers.simulated import Fault, SimulatedProvider

F = FailureClass
REQUEST = ChatRequest({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 16})
LITELLM_MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "gemini": "gemini/gemini-2.5-flash",
    "bedrock": "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
}
BEDROCK_TYPE = "x-amzn-errortype"


@dataclass(frozen=True)
class Case:
    vendor: str
    name: str
    status: int
    body: Any  # dict/list: sent as JSON; str: sent as is
    expected: FailureClass
    headers: tuple[tuple[str, str], ...] = ()
    via: tuple[str, ...] = ("wire",)
    retry_after: float | None = None
    content_type: str = "application/json"
    free_text: tuple[str, ...] = ()  # adapters through which a hard class rests on the message alone
    model: str | None = None  # the model the provider is configured with (None: the adapter's default here)

    @property
    def raw(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


def openai_err(message: str, type_: str | None, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def anthropic_err(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


def gemini_err(code: int, status: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


def bedrock(exc_type: str) -> tuple[tuple[str, str], ...]:
    return ((BEDROCK_TYPE, f"{exc_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),)


BOTH = ("wire", "litellm")
ALL_ANTHROPIC = ("wire", "litellm", "anthropic")  # and the native Messages adapter (kind anthropic)
# litellm's Gemini types trip a pydantic warning on first import; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Item.*ReadOnly:UserWarning")
LITELLM = ("litellm",)

CASES: list[Case] = [
    # --- OpenAI -----------------------------------------------------------------------
    Case("openai", "500-server_error", 500, openai_err(
        "The server had an error while processing your request. Sorry about that!", "server_error", None), F.TRANSIENT),
    Case("openai", "503-overloaded", 503, openai_err(
        "The engine is currently overloaded, please try again later.", "server_error", None), F.TRANSIENT),
    Case("openai", "503-not-ready", 503, openai_err(
        "The server is overloaded or not ready yet.", "server_error", None), F.TRANSIENT),
    Case("openai", "502-cloudflare-html", 502,
         "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
         "<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n", F.TRANSIENT, content_type="text/html"),
    Case("openai", "429-rate_limit_exceeded-tpm", 429, openai_err(
        "Rate limit reached for gpt-4o in organization org-Xq1f6r2Yb8cKj4QvZt0LwN3p on tokens per min (TPM): "
        "Limit 30000, Used 29513, Requested 1260. Please try again in 1.546s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.", "tokens", "rate_limit_exceeded"),
         F.RATE_LIMITED, headers=(("retry-after", "2"), ("x-ratelimit-reset-tokens", "1.546s")), retry_after=2.0),
    # The older wording points at the billing page; it is still a rate limit, not a quota.
    Case("openai", "429-rate_limit_exceeded-billing-hint", 429, openai_err(
        "Rate limit reached for default-gpt-3.5-turbo in organization org-Xq1f6r2Yb8cKj4QvZt0LwN3p on requests per min. "
        "Limit: 3 / min. Please try again in 20s. Contact us through our help center at help.openai.com if you continue "
        "to have issues. Please add a payment method to your account to increase your rate limit. Visit "
        "https://platform.openai.com/account/billing to add a payment method.", "requests", "rate_limit_exceeded"),
         F.RATE_LIMITED, headers=(("retry-after", "20"),), retry_after=20.0),
    Case("openai", "429-insufficient_quota", 429, openai_err(
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota", "insufficient_quota"), F.QUOTA),
    Case("openai", "401-invalid_api_key", 401, openai_err(
        "Incorrect API key provided: sk-proj-********************************************wxyz. You can find your API "
        "key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"), F.AUTH),
    Case("openai", "403-unsupported_country_region_territory", 403, {"error": {
        "code": "unsupported_country_region_territory", "message": "Country, region, or territory not supported",
        "param": None, "type": "request_forbidden"}}, F.REGULATORY),
    Case("openai", "400-context_length_exceeded", 400, openai_err(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9351 tokens. "
        "Please reduce the length of the messages.", "invalid_request_error", "context_length_exceeded", "messages"),
         F.CONTEXT_LENGTH),
    Case("openai", "400-content_policy_violation", 400, {"error": {
        "code": "content_policy_violation", "message": "Your request was rejected as a result of our safety system. "
        "Your prompt may contain text that is not allowed by our safety system.", "param": None,
        "type": "invalid_request_error"}}, F.CONTENT_FILTER),
    Case("openai", "404-model_not_found-deprecated", 404, openai_err(
        "The model `text-davinci-003` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
        "invalid_request_error", "model_not_found"), F.REGULATORY),
    # A model that is gone or not this account's (docs/failures.md, "Withdrawn models"): openai-python's
    # NotFoundError docs and api.openai.com's answer for a model nobody may use.
    Case("openai", "404-model_not_found-does-not-exist", 404, openai_err(
        "The model `gpt-4.1-nano-2099` does not exist or you do not have access to it.", "invalid_request_error",
        "model_not_found"), F.REGULATORY, model="gpt-4.1-nano-2099"),
    Case("openai", "400-invalid_request_error-json-mode", 400, openai_err(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        "invalid_request_error", None, "messages"), F.CLIENT),
    Case("openai", "400-invalid_request_error-unknown-arg", 400, openai_err(
        "Unrecognized request argument supplied: temperatur", "invalid_request_error", None), F.CLIENT),
    Case("openai", "422-unprocessable", 422, openai_err(
        "Invalid type for 'max_tokens': expected an integer, but got a string instead.", "invalid_request_error",
        "invalid_type", "max_tokens"), F.CLIENT),
    # --- Azure OpenAI -----------------------------------------------------------------
    Case("azure", "400-content_filter-ResponsibleAIPolicyViolation", 400, {"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry. To learn more about our content filtering policies please read our "
        "documentation: https://go.microsoft.com/fwlink/?linkid=2198766", "type": None, "param": "prompt",
        "code": "content_filter", "status": 400, "innererror": {
            "code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"}, "jailbreak": {"filtered": False, "detected": False},
                "self_harm": {"filtered": False, "severity": "safe"}, "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "medium"}}}}}, F.CONTENT_FILTER),
    # Mentions "quotaincrease" in a URL; it is a rate limit with a Retry-After.
    Case("azure", "429-token-rate-limit", 429, {"error": {"code": "429", "message":
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token "
        "rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}},
         F.RATE_LIMITED, headers=(("retry-after", "6"), ("retry-after-ms", "5500")), retry_after=5.5),
    # Azure's 404 for a deployment that is gone (MicrosoftDocs/azure-docs#114013, chatboxai/chatbox#861).
    Case("azure", "404-DeploymentNotFound", 404, {"error": {"code": "DeploymentNotFound", "message":
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, "
        "please wait a moment and try again."}}, F.REGULATORY),
    Case("azure", "401-invalid-subscription-key", 401, {"error": {"code": "401", "message":
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
        "active subscription and use a correct regional API endpoint for your resource."}}, F.AUTH),
    # --- Groq, OpenRouter, DeepSeek, Mistral (OpenAI-compatible) ----------------------
    Case("groq", "400-model_decommissioned", 400, {"error": {
        "message": "The model `mixtral-8x7b-32768` has been decommissioned and is no longer supported. Please refer to "
        "https://console.groq.com/docs/deprecations for a recommendation on which model to use instead.",
        "type": "invalid_request_error", "code": "model_decommissioned"}}, F.REGULATORY),
    Case("groq", "429-rate_limit_exceeded-upgrade-hint", 429, {"error": {
        "message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01jd2mg3r8fxq0sbk0gk2x1y9z` "
        "service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5463, Requested 1182. Please try again "
        "in 6.45s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
        "type": "tokens", "code": "rate_limit_exceeded"}}, F.RATE_LIMITED, headers=(("retry-after", "7"),), retry_after=7.0),
    Case("openrouter", "402-insufficient-credits", 402, {"error": {"code": 402, "message":
        "Insufficient credits. This account never purchased credits. Make sure your key is on the correct account or "
        "org, and if so, purchase more at https://openrouter.ai/settings/credits"}}, F.QUOTA),
    Case("deepseek", "402-insufficient-balance", 402, openai_err(
        "Insufficient Balance", "unknown_error", "invalid_request_error"), F.QUOTA),
    # Mistral's answer for a model it does not serve (mistralai/mistral-vibe#617, tmc/langchaingo#1233).
    Case("mistral", "400-invalid_model", 400, {"object": "error", "message": "Invalid model: mistral-medium-3.5",
         "type": "invalid_model", "param": None, "code": "1500"}, F.REGULATORY, model="mistral-medium-3.5"),
    Case("mistral", "401-top-level-message", 401, {"message": "Unauthorized", "request_id": "c6a4d2e0b1f94b7e"}, F.AUTH),
    Case("any", "451-legal-json", 451, openai_err(
        "Unavailable For Legal Reasons", "unavailable_for_legal_reasons", None), F.REGULATORY),
    Case("any", "451-legal-plain", 451, "Unavailable For Legal Reasons", F.REGULATORY, content_type="text/plain"),
    Case("any", "402-payment-required-empty", 402, "", F.QUOTA, content_type="text/plain"),
    Case("any", "408-request-timeout", 408, "", F.TRANSIENT, content_type="text/plain"),
    Case("any", "504-gateway-timeout", 504, "upstream request timeout", F.TRANSIENT, content_type="text/plain"),
    # --- Anthropic (native API via litellm and kind anthropic, OpenAI-compatible endpoint via the wire) ---
    Case("anthropic", "529-overloaded_error", 529, anthropic_err("overloaded_error", "Overloaded"), F.TRANSIENT, via=ALL_ANTHROPIC),
    Case("anthropic", "500-api_error", 500, anthropic_err("api_error", "Internal server error"), F.TRANSIENT, via=ALL_ANTHROPIC),
    Case("anthropic", "400-prompt-is-too-long", 400, anthropic_err(
        "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"), F.CONTEXT_LENGTH, via=ALL_ANTHROPIC),
    Case("anthropic", "401-authentication_error", 401, anthropic_err(
        "authentication_error", "invalid x-api-key"), F.AUTH, via=ALL_ANTHROPIC),
    Case("anthropic", "429-rate_limit_error", 429, anthropic_err("rate_limit_error",
        "This request would exceed the rate limit for your organization (4f1a0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b) of 30,000 "
        "input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the "
        "response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try "
        "again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for "
        "a rate limit increase."), F.RATE_LIMITED, headers=(("retry-after", "17"),), via=ALL_ANTHROPIC, retry_after=17.0),
    # The export-control withdrawal of 12 June 2026 (issue 18; recorded in a Claude Code issue):
    # the display name only, so it rests on the words and needs corroboration.
    Case("anthropic", "404-not_found_error-withdrawn", 404, anthropic_err("not_found_error",
        "Claude Fable 5 is not available. Please use Opus 4.8. Learn more: https://www.anthropic.com/news/fable-mythos-access"),
         F.REGULATORY, via=ALL_ANTHROPIC, free_text=ALL_ANTHROPIC),
    # A retired model (mattermost/mattermost-plugin-agents#257, anthropics/claude-code#5349):
    # names the model Crosswalk sent, under a structured not_found_error.
    Case("anthropic", "404-not_found_error-retired", 404, anthropic_err("not_found_error", "model: claude-sonnet-4-20250514"),
         F.REGULATORY, via=ALL_ANTHROPIC, model="claude-sonnet-4-20250514"),
    Case("anthropic", "404-not_found_error-other-model", 404, anthropic_err("not_found_error", "model: claude-3-opus-20240229"),
         F.CLIENT, via=ALL_ANTHROPIC, model="claude-sonnet-4-20250514"),
    Case("anthropic", "403-permission_error-model", 403, anthropic_err("permission_error",
        "Your organization does not have access to model claude-opus-4-1-20250805."), F.REGULATORY, via=ALL_ANTHROPIC,
         model="claude-opus-4-1-20250805"),
    Case("anthropic", "403-permission_error", 403, anthropic_err(
        "permission_error", "Your API key does not have permission to use the specified resource."), F.AUTH, via=ALL_ANTHROPIC),
    # Anthropic reports an empty prepaid balance as a 400, not a 402/429.
    Case("anthropic", "400-credit-balance-too-low", 400, anthropic_err("invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
        "purchase credits."), F.QUOTA, via=ALL_ANTHROPIC, free_text=ALL_ANTHROPIC),
    Case("anthropic", "413-request_too_large", 413, anthropic_err(
        "request_too_large", "Request exceeds the maximum allowed number of bytes."), F.CLIENT, via=("wire", "anthropic")),
    Case("anthropic", "400-invalid_request_error", 400, anthropic_err(
        "invalid_request_error", "messages: roles must alternate between \"user\" and \"assistant\""), F.CLIENT,
         via=("wire", "anthropic")),
    # --- Gemini (native API via litellm, OpenAI-compatible endpoint via the wire) ------
    Case("gemini", "400-FAILED_PRECONDITION-user-location", 400, gemini_err(
        400, "FAILED_PRECONDITION", "User location is not supported for the API use."), F.REGULATORY, via=BOTH),
    Case("gemini", "429-RESOURCE_EXHAUSTED", 429, gemini_err(
        429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), F.RATE_LIMITED, via=BOTH),
    # Vertex words its per-minute rate limit as a quota; it clears within the minute.
    Case("gemini", "429-RESOURCE_EXHAUSTED-vertex-per-minute-quota", 429, gemini_err(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
        "generate_content_requests_per_minute_per_project_per_base_model with base model: gemini-1.5-pro. Please submit "
        "a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."),
         F.RATE_LIMITED, via=BOTH),
    Case("gemini", "400-INVALID_ARGUMENT-token-count", 400, gemini_err(
        400, "INVALID_ARGUMENT", "The input token count (1189429) exceeds the maximum number of tokens allowed "
        "(1048576)."), F.CONTEXT_LENGTH, via=BOTH),
    Case("gemini", "503-UNAVAILABLE", 503, gemini_err(
        503, "UNAVAILABLE", "The model is overloaded. Please try again later."), F.TRANSIENT, via=BOTH),
    Case("gemini", "500-INTERNAL", 500, gemini_err(
        500, "INTERNAL", "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"), F.TRANSIENT, via=BOTH),
    # Gemini says a bad key with 400 INVALID_ARGUMENT (the reason is API_KEY_INVALID).
    Case("gemini", "400-INVALID_ARGUMENT-api-key-not-valid", 400, gemini_err(
        400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
            "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
         F.AUTH, via=BOTH),
    Case("gemini", "403-PERMISSION_DENIED", 403, gemini_err(
        403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another API key."), F.AUTH, via=BOTH),
    # A retired model answers 404 NOT_FOUND.
    Case("gemini", "404-NOT_FOUND-retired-model", 404, gemini_err(
        404, "NOT_FOUND", "models/gemini-1.0-pro is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their supported methods."),
         F.REGULATORY, via=BOTH, free_text=BOTH),
    Case("gemini", "400-INVALID_ARGUMENT-generic", 400, gemini_err(
        400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"temperatur\" at 'generation_config': "
        "Cannot find field."), F.CLIENT, via=BOTH),
    # Gemini's OpenAI-compatible endpoint wraps the error object in a list.
    Case("gemini", "400-list-wrapped-user-location", 400, [gemini_err(
        400, "FAILED_PRECONDITION", "User location is not supported for the API use.")], F.REGULATORY),
    Case("gemini", "429-list-wrapped", 429, [gemini_err(
        429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")], F.RATE_LIMITED),
    Case("gemini", "400-list-wrapped-generic", 400, [gemini_err(
        400, "INVALID_ARGUMENT", "Request contains an invalid argument.")], F.CLIENT),
    # --- Bedrock (litellm's Bedrock client; the exception type is in x-amzn-errortype) --
    Case("bedrock", "400-ValidationException-unsupported-countries", 400, {"message":
        "Access to Anthropic models is not allowed from unsupported countries, regions, or territories. Please refer to "
        "https://www.anthropic.com/supported-countries for more information on the countries and regions Anthropic "
        "currently supports."}, F.REGULATORY, headers=bedrock("ValidationException"), via=LITELLM, free_text=LITELLM),
    Case("bedrock", "403-AccessDeniedException-unsupported-countries", 403, {"message":
        "Access to the model is not allowed from unsupported countries, regions, or territories."},
         F.REGULATORY, headers=bedrock("AccessDeniedException"), via=LITELLM),
    Case("bedrock", "403-AccessDeniedException-no-model-access", 403, {"message":
        "You don't have access to the model with the specified model ID."}, F.REGULATORY,
         headers=bedrock("AccessDeniedException"), via=LITELLM),
    # Legacy models (awslabs/llmeter#35, fourTheorem/podwhisperer#24).
    Case("bedrock", "404-ResourceNotFoundException-legacy", 404, {"message":
        "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in "
        "the last 30 days. Please upgrade to an active model on Amazon Bedrock"}, F.REGULATORY,
         headers=bedrock("ResourceNotFoundException"), via=LITELLM, free_text=LITELLM),
    Case("bedrock", "429-ThrottlingException", 429, {"message": "Too many requests, please wait before trying again."},
         F.RATE_LIMITED, headers=bedrock("ThrottlingException"), via=LITELLM),
    # litellm turns Bedrock's 408 into its Timeout: the model was too slow, not flaky.
    Case("bedrock", "408-ModelTimeoutException", 408, {"message":
        "Model has timed out in processing the request. Try your request again."}, F.TIMEOUT,
         headers=bedrock("ModelTimeoutException"), via=LITELLM),
    Case("bedrock", "400-ValidationException-input-too-long", 400, {"message": "Input is too long for requested model."},
         F.CONTEXT_LENGTH, headers=bedrock("ValidationException"), via=LITELLM),
    Case("bedrock", "404-ResourceNotFoundException-end-of-life", 404, {"message":
        "This model version has reached the end of its life. Please refer to the AWS documentation for more details."},
         F.REGULATORY, headers=bedrock("ResourceNotFoundException"), via=LITELLM, free_text=LITELLM),
    Case("bedrock", "503-ServiceUnavailableException", 503, {"message": "Bedrock is unable to process your request."},
         F.TRANSIENT, headers=bedrock("ServiceUnavailableException"), via=LITELLM),
    Case("bedrock", "400-ValidationException-generic", 400, {"message":
        "The provided model identifier is invalid."}, F.CLIENT, headers=bedrock("ValidationException"), via=LITELLM),
]


def _params() -> list[Any]:
    return [pytest.param(c, via, id=f"{c.vendor}-{c.name}-{via}") for c in CASES for via in c.via]


def _wire(upstream: Any, *, base: str = "/v1", api_key: str = "sk-test-loopback", model: str | None = None) -> OpenAIWireProvider:
    return OpenAIWireProvider(name="up", model=model or "m-1", base_url=upstream.url + base, api_key=api_key)


def _anthropic(upstream: Any, model: str | None = None) -> AnthropicProvider:
    return AnthropicProvider(name="up", model=model or "claude-1", base_url=upstream.url, api_key="sk-ant-test-loopback")


def _litellm(vendor: str, url: str, monkeypatch: pytest.MonkeyPatch, model: str | None = None) -> LiteLLMProvider:
    if vendor == "bedrock":
        monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    configured = LITELLM_MODELS[vendor] if model is None else LITELLM_MODELS[vendor].split("/")[0] + "/" + model
    return LiteLLMProvider(name="up", model=configured, api_key="test-loopback-key", base_url=url)


async def _error_from(provider: Any, request: ChatRequest = REQUEST) -> ProviderError:
    try:
        with pytest.raises(ProviderError) as info:
            await provider.complete(request)
    finally:
        await provider.aclose()
    return info.value


@pytest.mark.parametrize(("case", "via"), _params())
async def test_vendor_error_payload_gets_its_failure_class(upstream, monkeypatch, case: Case, via: str):
    upstream.reply(case.status, case.raw, dict(case.headers), content_type=case.content_type)
    provider = (_wire(upstream, model=case.model) if via == "wire" else _anthropic(upstream, case.model) if via == "anthropic"
                else _litellm(case.vendor, upstream.url, monkeypatch, case.model))
    error = await _error_from(provider)
    assert upstream.hits, "the adapter never reached the loopback vendor"
    if not isinstance(error, ProviderTimeout):
        assert isinstance(error, ProviderHTTPError), repr(error)
    got = classify(error, model=provider.model)
    assert got.failure_class is case.expected, f"{error.evidence()} (code={error.code!r}, type={error.error_type!r})"
    if case.retry_after is not None:
        assert got.retry_after_s == pytest.approx(case.retry_after)
    if case.expected in HARD:  # structured evidence excludes at once; free text needs corroboration
        assert got.structured is (via not in case.free_text), error.evidence()


def test_the_table_covers_every_failure_class_the_wire_can_produce():
    # stream_broken comes from a stream's shape, invalid_output from the step's validators.
    assert {c.expected for c in CASES} >= set(FailureClass) - {F.STREAM_BROKEN, F.INVALID_OUTPUT}


def test_a_rejected_answer_is_invalid_output_whatever_its_text_says():
    # The message quotes the model's answer: words in it are never evidence of anything else.
    error = OutputRejected("alpha: regex: Country, region, or territory not supported (insufficient_quota)",
                           provider="alpha", rules=("regex",))
    assert classify(error) == Classification(F.INVALID_OUTPUT)


# --- what the wire adapter extracts from a body -----------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "want"),
    [
        pytest.param(
            openai_err("Rate limit reached for gpt-4o", "tokens", "rate_limit_exceeded"),
            {"Retry-After": "20"},
            dict(status=429, code="rate_limit_exceeded", error_type="tokens", message="Rate limit reached for gpt-4o", retry_after_s=20.0),
            id="openai",
        ),
        pytest.param(
            anthropic_err("overloaded_error", "Overloaded"), {},
            dict(status=429, code=None, error_type="overloaded_error", message="Overloaded", retry_after_s=None),
            id="anthropic",
        ),
        pytest.param(
            [gemini_err(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")], {"retry-after-ms": "1500"},
            dict(status=429, code="429", error_type="RESOURCE_EXHAUSTED", message="Resource has been exhausted (e.g. check quota).", retry_after_s=1.5),
            id="gemini-list",
        ),
        pytest.param(
            {"error": "model overloaded"}, {},
            dict(status=429, code=None, error_type=None, message="model overloaded", retry_after_s=None),
            id="error-as-string",
        ),
        pytest.param(
            "Too Many Requests\n", {},
            dict(status=429, code=None, error_type=None, message="Too Many Requests", retry_after_s=None),
            id="plain-text",
        ),
    ],
)
async def test_wire_adapter_extracts_status_code_type_message_retry_after(upstream, body, headers, want):
    upstream.reply(429, body if isinstance(body, str) else json.dumps(body), headers)
    error = await _error_from(_wire(upstream))
    assert type(error) is ProviderHTTPError
    got = {k: getattr(error, k) for k in want}
    assert got == want
    assert error.provider == "up"


async def test_wire_adapter_uses_the_reason_phrase_for_an_empty_body(upstream):
    upstream.reply(503, "", content_type="text/plain")
    error = await _error_from(_wire(upstream))
    assert error.status == 503 and error.message == "Service Unavailable"
    assert classify(error).failure_class is F.TRANSIENT


async def test_wire_adapter_posts_to_chat_completions_with_the_bearer_key(upstream):
    upstream.reply(500, openai_err("boom", "server_error", None))
    await _error_from(_wire(upstream, api_key="sk-abc-123"))
    method, path, headers = upstream.hits[-1]
    assert (method, path) == ("POST", "/v1/chat/completions")
    assert headers["Authorization"] == "Bearer sk-abc-123"


# --- transport failures -------------------------------------------------------------------


async def test_connection_refused_is_transient(closed_port):
    provider = OpenAIWireProvider(name="up", model="m", base_url=f"http://127.0.0.1:{closed_port}/v1")
    error = await _error_from(provider)
    assert type(error) is ProviderConnectionError
    assert classify(error) == Classification(F.TRANSIENT)


async def test_connection_refused_through_litellm_is_transient(closed_port, monkeypatch):
    # litellm reports a refused connection as its InternalServerError (status 500).
    error = await _error_from(_litellm("anthropic", f"http://127.0.0.1:{closed_port}", monkeypatch))
    assert isinstance(error, (ProviderConnectionError, ProviderHTTPError)), repr(error)
    assert classify(error).failure_class is F.TRANSIENT


@pytest.mark.parametrize("phase", ["headers", "first_token", "idle", "total"])
def test_provider_timeout_is_timeout_in_every_phase(phase):
    assert classify(ProviderTimeout("silent", provider="up", phase=phase)) == Classification(F.TIMEOUT)


HEL = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}


async def _broken_stream(upstream, events: list[bytes]) -> tuple[list[dict], StreamBroken]:
    """The chunks an OpenAI-wire provider yields from `events` before it raises StreamBroken."""
    upstream.stream(events)
    provider = _wire(upstream)
    got = []
    with pytest.raises(StreamBroken) as info:
        async for c in provider.stream(ChatRequest({**REQUEST.body, "stream": True})):
            got.append(c)
    await provider.aclose()
    return got, info.value


async def test_stream_cut_without_done_is_stream_broken(upstream):
    got, error = await _broken_stream(upstream, [f"data: {json.dumps(HEL)}\n\n".encode()])
    assert len(got) == 1
    assert error.reason == "missing_terminator"
    assert classify(error) == Classification(F.STREAM_BROKEN)


async def test_malformed_stream_chunk_is_stream_broken(upstream):
    _, error = await _broken_stream(upstream, [b'data: {"id": "c1", "choices": [\n\n'])
    assert error.reason == "malformed"
    assert classify(error).failure_class is F.STREAM_BROKEN


async def test_a_chunk_that_is_not_utf8_is_malformed_not_patched(upstream):
    """Not delivered with replacement characters as if whole: a broken stream (resumed elsewhere)."""
    bad = b'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}\n\n'
    got, error = await _broken_stream(upstream, [f"data: {json.dumps(HEL)}\n\n".encode(), bad])
    assert [c["choices"][0]["delta"]["content"] for c in got] == ["Hel"]
    assert error.reason == "malformed"


async def test_error_event_mid_stream_is_stream_broken_whatever_its_code(upstream):
    # Past the first byte even a rate-limit code is a broken stream, not a cooldown.
    event = {"error": {"message": "Rate limit reached", "type": "tokens", "code": "rate_limit_exceeded"}}
    _, error = await _broken_stream(upstream, [f"data: {json.dumps(event)}\n\n".encode()])
    assert (error.reason, error.code) == ("error_event", "rate_limit_exceeded")
    assert classify(error).failure_class is F.STREAM_BROKEN


@pytest.mark.parametrize(
    "body",
    [pytest.param("<html>maintenance</html>", id="not-json"), pytest.param('{"object": "list", "data": []}', id="no-choices"),
     pytest.param("[1, 2]", id="json-list")],
)
async def test_malformed_success_body_is_transient(upstream, body):
    upstream.reply(200, body)
    error = await _error_from(_wire(upstream))
    assert type(error) is MalformedResponse
    assert classify(error) == Classification(F.TRANSIENT)


def test_unplaceable_error_without_status_is_transient():
    assert classify(ProviderError("something odd")).failure_class is F.TRANSIENT


def test_regulatory_evidence_wins_over_any_status():
    for status in (400, 403, 404, 500):
        err = ProviderHTTPError("Country, region, or territory not supported", status=status, code="unsupported_country_region_territory")
        assert classify(err).failure_class is F.REGULATORY, status


# --- Retry-After ------------------------------------------------------------------------


def _h(**kv: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in kv.items()})


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        pytest.param(_h(Retry_After="7"), 7.0, id="seconds"),
        pytest.param(_h(Retry_After="1.5"), 1.5, id="fractional-seconds"),
        pytest.param(_h(Retry_After=" 30 "), 30.0, id="padded"),
        pytest.param(_h(Retry_After="-5"), 0.0, id="negative-clamped"),
        pytest.param(_h(Retry_After="0"), 0.0, id="zero"),
        pytest.param(_h(retry_after_ms="1500"), 1.5, id="retry-after-ms"),
        pytest.param(_h(retry_after_ms="250", Retry_After="9"), 0.25, id="ms-wins-over-seconds"),
        pytest.param(_h(retry_after_ms="soon", Retry_After="9"), 9.0, id="bad-ms-falls-back"),
        pytest.param(_h(Retry_After="Wed, 21 Oct 2015 07:28:00 GMT"), 0.0, id="http-date-in-the-past"),
        pytest.param(_h(Retry_After="soon"), None, id="garbage-word"),
        pytest.param(_h(Retry_After="Mon, 99 Foo 2015 77:28:00 GMT"), None, id="garbage-date"),
        pytest.param(_h(Retry_After="nan"), None, id="nan"),
        pytest.param(_h(Retry_After="inf"), None, id="inf"),
        pytest.param(_h(retry_after_ms="inf"), None, id="inf-ms"),
        pytest.param(_h(Retry_After=""), None, id="empty"),
        pytest.param(_h(), None, id="absent"),
        pytest.param({"retry-after": "3"}, 3.0, id="plain-dict"),
    ],
)
def test_parse_retry_after(headers, want):
    assert parse_retry_after(headers) == want


def test_parse_retry_after_http_date_in_the_future():
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    got = parse_retry_after(_h(Retry_After=format_datetime(when, usegmt=True)))
    assert got is not None and 3000 < got <= 3600


async def test_http_date_retry_after_reaches_the_classification(upstream):
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    upstream.reply(429, json.dumps(openai_err("Rate limit reached", "requests", "rate_limit_exceeded")),
                   {"Retry-After": format_datetime(when, usegmt=True)})
    got = classify(await _error_from(_wire(upstream)))
    assert got.failure_class is F.RATE_LIMITED
    assert got.retry_after_s is not None and 3000 < got.retry_after_s <= 3600


async def test_the_simulated_kind_withdraws_a_model_as_anthropic_does():
    provider = SimulatedProvider(name="sim", model="claude-sonnet-4-20250514")
    provider.set_fault(Fault.withdrawn("claude-sonnet-4-20250514"))
    error = await _error_from(provider)
    assert classify(error, model=provider.model) == Classification(F.REGULATORY)
    # Another model withdrawn is not news about this one.
    provider.set_fault(Fault.withdrawn("claude-3-opus-20240229"))
    assert classify(await _error_from(provider), model=provider.model).failure_class is F.CLIENT
