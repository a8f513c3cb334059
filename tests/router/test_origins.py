"""`hide_origins` on the shapes vendors' and transports' errors take (and on text that must
stay: provider names, amounts, failure classes)."""

from __future__ import annotations

import pytest

from crosswalk.router.origins import HIDDEN, configured_hosts, hide_in, hide_origins

HOSTS = configured_hosts(["https://llm.internal.example:8443/v1", "http://gateway/v1", None, "https://api.openai.com/v1"])


@pytest.mark.parametrize("text, gone", [
    ("dead: transient (cannot connect to http://127.0.0.1:35939: ConnectionRefusedError)", ["http://", "127.0.0.1", "35939"]),
    ("connection to https://llm.internal.example:8443 closed in the middle of the response", ["llm.internal.example", "8443"]),
    ("Cannot connect to host api.openai.com:443 ssl:default [Connection refused]", ["api.openai.com", ":443"]),
    ("proxy http://user:pw@10.1.2.3:3128 refused the tunnel", ["user:pw", "10.1.2.3", "3128"]),
    ("upstream [2001:db8::7]:8080 reset", ["2001:db8::7", "8080"]),
    ("bad gateway from gateway (status 502)", ["from gateway "]),
    ("getaddrinfo failed for llm.internal.example", ["llm.internal.example"]),
])
def test_addresses_are_hidden(text, gone):
    hidden = hide_origins(text, HOSTS)
    assert HIDDEN in hidden and not any(g in hidden for g in gone), hidden


@pytest.mark.parametrize("text", [
    "step 'draft': all 2 attempts failed: primary: transient (status 503); secondary: timeout (no answer within 5s)",
    "the refund is $42.99 (3.5% of 1,234.56)",
    "gateway-eu: rate_limited (status 429)",  # a provider named like a configured host's prefix
    "stream cut after 120 characters; resumed on gpt4o-gateway",
])
def test_text_without_addresses_is_unchanged(text):
    assert hide_origins(text, HOSTS) == text


def test_hide_in_reaches_every_string_of_a_recovery_event():
    event = {"broken": "cutter", "detail": "connection to http://127.0.0.1:9 closed", "tried": ["x at 10.0.0.1:80"], "n": 3}
    assert hide_in(event, HOSTS) == {"broken": "cutter", "detail": f"connection to {HIDDEN} closed", "tried": [f"x at {HIDDEN}"], "n": 3}
