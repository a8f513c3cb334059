"""The fallbacks of the continuation tests (issue 17), shared by the SDK, proxy and property
tests: one answer, the vendors that go on from a broken stream in each way real models do,
their config, and the reader of what a caller received."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from crosswalk import Router, StreamInterrupted
from tests import fakevendor as fv

ANSWER = ("The refund for order 1234 is $42.99. It is paid back to the original card within five working days. "
          "You get an email when it is sent.")
PARAPHRASE = "Order 1234 will be refunded $42.99 to the card you paid with, within five working days."
DELIVERED = "The refund for order 1234 is $42.99. It is"  # the role chunk and these 9 words: 10 events
MSG = [{"role": "user", "content": "How much is the refund for order 1234?"}]

# vendor -> how it answers: `primary` breaks (each test scripts how), the others go on
VENDORS: dict[str, dict[str, Any]] = {
    "primary": {"answer": ANSWER},
    "plain": {"answer": ANSWER},                                     # (a) continues
    "verbatim": {"answer": ANSWER, "continuation": "restart"},       # (b) restarts word for word
    "paraphrase": {"answer": PARAPHRASE},                            # (c) restarts in other words
    "repeats": {"answer": ANSWER, "continuation": "repeat_tail"},    # (d) repeats the last sentence, goes on
    "liar": {"answer": ANSWER, "rejects_prefill": True},             # (e) said to take a prefill, rejects it
    "breaker": {"answer": ANSWER},                                   # (f) breaks again (cut after 3 events)
}
# step -> its ranked providers
STEPS = {
    "continues": "primary, plain",
    "verbatim": "primary, verbatim",
    "paraphrase": "primary, paraphrase",
    "repeats": "primary, repeats",
    "rejects_prefill": "primary, liar",
    "breaks_again": "primary, breaker, plain",
}


async def start_vendors(start: Callable[..., Awaitable[fv.FakeVendor]], **more: dict[str, Any]) -> dict[str, fv.FakeVendor]:
    """The fallback vendors (and `more`, name -> options), started by `start(name, **options)`."""
    vendors = {name: await start(name, **options) for name, options in {**VENDORS, **more}.items()}
    vendors["breaker"].always(fv.cut(after=3))
    return vendors


def config(vendors: dict[str, fv.FakeVendor], *, timeouts: str, steps: str = "", tail: str = "") -> str:
    """A config with every vendor as a provider (`liar` said to take a prefill), the fallback
    steps with `timeouts`, then `steps` (more step lines) and `tail` (more top-level YAML)."""
    providers = "\n".join(f'  {n}: {{kind: openai, model: m-{n}, base_url: "{v.base_url}", vendor: {n}'
                          f'{", prefill: true" if n == "liar" else ""}}}' for n, v in vendors.items())
    fallbacks = "\n".join(f"  {step}: {{providers: [{ranked}], timeouts: {timeouts}}}" for step, ranked in STEPS.items())
    return f"providers:\n{providers}\nsteps:\n{fallbacks}\n{steps}\n{tail}\n"


async def read(router: Router, step: str, **extra: Any) -> tuple[str, str | None, StreamInterrupted | None, Any]:
    """What a caller of the SDK received: the text, the finish reason, the in-band error, the record."""
    s = await router.acompletion(step=step, messages=MSG, stream=True, **extra)
    text, finish, error = "", None, None
    try:
        async for chunk in s:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
    except StreamInterrupted as exc:
        error = exc
    return text, finish, error, s.crosswalk
