"""A model the vendor says is gone: an outage, never the caller's mistake.

The model is Crosswalk's choice (the provider's `model` in the config; the caller's `model`
names a step and never leaves the router), so a vendor saying that model does not exist,
is retired or is not this account's says the provider cannot serve the step: the
classifier makes it REGULATORY (withdrawn), the request fails over, the provider is
excluded. The evidence rule still holds, so the readings are, strongest first:

1. A structured code that only ever means the model: OpenAI `model_not_found`, Groq
   `model_decommissioned`, Azure `DeploymentNotFound`, Mistral `invalid_model`.
2. A not-found / no-access type (Anthropic `not_found_error` / `permission_error`, Gemini
   `NOT_FOUND` / `PERMISSION_DENIED`, Bedrock `ResourceNotFoundException` /
   `AccessDeniedException`, litellm's `NotFoundError` / `PermissionDeniedError`) or a 404 /
   410, whose message names the model Crosswalk sent, a name the caller did not supply.
3. The same type or status (or a 400) with the vendor's own words that a model is gone
   (words the caller did not supply, `model` first in the sentence): free text, so a 400
   or 404 needs a second, different request to corroborate it before anyone is excluded
   (a 403 / 410 is hard evidence by itself).

Never from a 4xx about the request's own fields (a `param`, an "unrecognized request
argument"), never from a name or a phrase the caller sent: those are the caller's.
The real shapes, with where each was seen, are in the table "Withdrawn models" in docs/failures.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crosswalk.providers.caller_text import CallerText


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The vendor says Crosswalk's model is gone. `structured`: read from its structured
    fields or its naming of the model; False: from its words alone."""

    structured: bool


_STATUSES = frozenset({400, 403, 404, 410})
# Reading 1, in the code/type fields: these codes are about the model and nothing else.
_MODEL_CODES = re.compile(r"\b(model_not_found|model_decommissioned|deploymentnotfound|invalid_model)\b", re.IGNORECASE)
# Reading 2 and 3, in the type/status fields: "no such thing" or "not yours".
_NOT_FOUND = re.compile(
    r"\b(not_found_error|not_found|resourcenotfoundexception|notfounderror"
    r"|permission_error|permission_denied|accessdeniedexception|permissiondeniederror)\b",
    re.IGNORECASE,
)
# Reading 3: a vendor's own words that a model is gone. `model` must come first in the
# sentence (a dot inside a name such as `gpt-4.1` does not end it): "'functions' is
# deprecated" is about the caller's request, "the model `m` is deprecated" about ours.
_ABOUT_MODEL = r"\bmodels?\b(?:[^.]|\.(?=\S)){0,80}?\b"
_RETIRED = (r"deprecated|decommissioned|retired|discontinued|withdrawn|no longer (available|supported|served)"
            r"|reached the end of its life|does not exist")
# A 400 is about the request unless it says the model is retired in so many words.
_GONE_400 = re.compile(rf"{_ABOUT_MODEL}({_RETIRED})", re.IGNORECASE)
# A 403/404/410 also when the model is not available, not found or not this account's,
# and Anthropic's export-control 404 ("Claude Fable 5 is not available. Please use Opus
# 4.8."), which names the model by its display name only.
_GONE = re.compile(
    rf"{_ABOUT_MODEL}({_RETIRED}|is not available|not found|marked by provider as legacy|is not supported)"
    r"|(don't|do not|does not) have (access|permission) to (use )?(the |this )?model"
    r"|not authorized to access model"
    r"|\bis not available\. please use\b",
    re.IGNORECASE,
)


def withdrawn(
    *,
    status: int | None,
    fields: str,
    message: str,
    model: str | None,
    caller: CallerText | None,
    about_request: bool,
) -> Withdrawal | None:
    """Does the vendor say the model Crosswalk sent (`model`, as configured) is gone?
    `fields`: the vendor's structured code/type/reason fields; `message`: its free text;
    `about_request`: the error names or complains about a request field."""
    if status not in _STATUSES:
        return None
    if _MODEL_CODES.search(fields):
        return Withdrawal(True)
    if about_request:
        return None
    if status == 400:
        return Withdrawal(False) if _says(_GONE_400, message, caller) else None
    if status not in (404, 410) and not _NOT_FOUND.search(fields):
        return None
    if _names(message, model) and not _supplied(caller, model):
        return Withdrawal(True)
    return Withdrawal(False) if _says(_GONE, message, caller) else None


def _says(pattern: re.Pattern[str], message: str, caller: CallerText | None) -> bool:
    """Does `pattern` occur in `message` in words the caller did not supply?"""
    return any(caller is None or not caller.supplied(found.group(0)) for found in pattern.finditer(message))


def upstream_names(model: str | None) -> tuple[str, ...]:
    """The names a vendor may call the configured `model` by: as configured, and without
    litellm's routing prefix (`anthropic/claude-x` reaches Anthropic as `claude-x`)."""
    if not model:
        return ()
    names = {model, model.rsplit("/", 1)[-1]}
    return tuple(n for n in names if len(n) >= 3)


def _names(message: str, model: str | None) -> bool:
    """Is one of the model's names in `message` as a whole name (`gpt-4o` is not named by
    `gpt-4o-mini`; a full stop after it ends the sentence, not the name)?"""
    for name in upstream_names(model):
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", message, re.IGNORECASE):
            return True
    return False


def _supplied(caller: CallerText | None, model: str | None) -> bool:
    """Did the caller (may it have) put one of the model's names in its body? Then the
    name in the message may be its echo, not the vendor naming what it was sent."""
    return caller is not None and any(caller.supplied(n) for n in upstream_names(model))
