"""The operator's page (GET /ui) as an operator meets it: a real `crosswalk serve` in front of
fake vendors on loopback, one provider ejected (it answers 500), one excluded (it answers
451), one healthy; the page loaded in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), its lift button pressed.

Also over plain HTTP: the page needs a key (bearer, or as a browser's Basic password), a
cross-site form or a stale token cannot lift anything, and `proxy.ui: false` turns it off.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from tests import fakevendor as fv
from tests.eventually import eventually
from tests.fakevendor import Vendors
from tests.router.proxy_harness import ProxyProcess

KEY = "cw-ui-key-0123456789abcdef"
REGION_BLOCK = {"error": {"message": "Unavailable For Legal Reasons: this model is not offered in your region.",
                          "type": "invalid_request_error", "param": None, "code": "unsupported_country_region_territory"}}
CONFIG = """
providers:
  flaky:   {{kind: openai, model: gpt-4o-mini, base_url: "{flaky}", api_key: sk-flaky-0123456789, vendor: alpha, region: us}}
  blocked: {{kind: openai, model: mistral-large-latest, base_url: "{blocked}", api_key: sk-blocked-0123456789, vendor: beta, region: eu}}
  steady:  {{kind: openai, model: deepseek-chat, base_url: "{steady}", api_key: sk-steady-0123456789, vendor: gamma, region: eu}}
steps:
  draft:
    description: "Draft a reply <b>to a ticket</b>"
    providers: [flaky, blocked, steady]
    max_attempts: 4
    timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}
proxy:
  api_keys: ["{key}"]
  ui: {ui}
health:
  probe_interval_s: 0
"""
ASK = {"model": "draft", "messages": [{"role": "user", "content": "Draft a reply to ticket 1234"}]}


class Page:
    """A running proxy with one ejected and one excluded provider, and an HTTP session."""

    def __init__(self, proc: ProxyProcess, http: aiohttp.ClientSession) -> None:
        self.proc, self.http, self.url = proc, http, proc.url

    async def providers(self) -> dict[str, dict[str, Any]]:
        async with self.http.get(self.url + "/v1/crosswalk/providers", headers={"authorization": f"Bearer {KEY}"}) as resp:
            return {p["provider"]: p for p in (await resp.json())["providers"]}


async def _start(tmp_path: Path, vendors: Vendors, *, ui: bool = True) -> tuple[ProxyProcess, aiohttp.ClientSession]:
    path = tmp_path / "crosswalk.yaml"
    path.write_text(CONFIG.format(flaky=vendors.primary.base_url, blocked=vendors.twin.base_url,
                                  steady=vendors.secondary.base_url, key=KEY, ui=str(ui).lower()))
    proc = ProxyProcess(path)
    await asyncio.to_thread(proc.wait_ready)
    return proc, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))


@pytest.fixture
async def page(tmp_path: Path, vendors: Vendors) -> AsyncIterator[Page]:
    vendors.primary.always(fv.error(500, {"error": {"message": "internal error", "type": "server_error", "param": None, "code": None}}))
    vendors.twin.always(fv.error(451, REGION_BLOCK))
    proc, http = await _start(tmp_path, vendors)
    page = Page(proc, http)
    try:
        async def ejected_and_excluded() -> bool:
            async with http.post(page.url + "/v1/chat/completions", json=ASK, headers={"authorization": f"Bearer {KEY}"}) as resp:
                assert resp.status == 200 and resp.headers["x-crosswalk-provider"] == "steady", await resp.text()
            rows = await page.providers()
            return rows["flaky"]["state"] == "ejected" and rows["blocked"]["state"] == "excluded"

        await eventually(ejected_and_excluded, within=20, what="flaky ejected and blocked excluded")
        yield page
    finally:
        await http.close()
        await asyncio.to_thread(proc.stop)


def _browser(tmp: str) -> Any:
    """Headless chromium with its temporary files (profile, singleton socket) in `tmp`,
    removed by the caller: not left behind in /tmp by every run."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp}/profile")
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver", env={**os.environ, "TMPDIR": tmp})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    # The operator's key on every request the page makes (what a browser's Basic prompt would send).
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {KEY}"}})
    return driver


def _row(driver: Any, provider: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, f"provider-{provider}").text


def _browse_and_lift(url: str) -> dict[str, Any]:
    """Load the page, read what it shows, press blocked's lift button, read it again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    tmp = tempfile.mkdtemp(prefix="crosswalk-ui-test-")
    driver = _browser(tmp)
    try:
        driver.get(url + "/ui")
        seen = {"title": driver.title, "flaky": _row(driver, "flaky"), "blocked": _row(driver, "blocked"),
                "steady": _row(driver, "steady"), "step": driver.find_element(By.ID, "step-draft").text,
                "rates": driver.find_element(By.CSS_SELECTOR, "table.rates").text,
                "ranked": driver.find_element(By.CSS_SELECTOR, "table.ranked").text,
                "recent": driver.find_element(By.CSS_SELECTOR, "table.recent").text,
                "html": driver.page_source,
                "buttons": [b.get_attribute("value") for b in driver.find_elements(By.CSS_SELECTOR, "button[name=lift]")]}
        driver.find_element(By.CSS_SELECTOR, "#provider-blocked button").click()
        WebDriverWait(driver, 15).until(expected_conditions.url_contains("lifted="))  # the POST, then its redirect
        seen["after_url"] = driver.current_url
        seen["notice"] = driver.find_element(By.CSS_SELECTOR, ".notice").text
        seen["blocked_after"] = _row(driver, "blocked")
        return seen
    finally:
        driver.quit()
        shutil.rmtree(tmp, ignore_errors=True)


async def test_the_page_shows_each_providers_state_and_its_lift_button_lifts_the_exclusion(page: Page) -> None:
    seen = await asyncio.to_thread(_browse_and_lift, page.url)
    assert seen["title"] == "Crosswalk"
    assert "ejected" in seen["flaky"] and "ejected until" in seen["flaky"] and "UTC" in seen["flaky"]
    assert "excluded" in seen["blocked"] and "regulatory" in seen["blocked"]
    assert "not offered in your region" in seen["blocked"]  # the vendor's own words, as evidence
    assert "healthy" in seen["steady"] and "excluded" not in seen["steady"]
    assert seen["buttons"] == ["blocked"]  # only an excluded provider can be lifted
    # the step's ranked providers with their status, and its rates from /metrics
    assert seen["ranked"].splitlines()[1:] and "steady" in seen["ranked"] and "excluded" in seen["ranked"]
    assert "Draft a reply <b>to a ticket</b>" in seen["step"] and "<b>to a ticket</b>" not in seen["html"]  # escaped
    header, values = seen["rates"].splitlines()[0], seen["rates"].splitlines()[-1]
    assert "answered" in header and "first attempt ok" in header and "answered after failover" in header
    assert "100.0%" in values and "0.0%" in values  # every request answered, none by its first attempt
    assert "failover" in seen["recent"] and "steady" in seen["recent"]
    # the button: back on the page, with the exclusion lifted (on the page and in the API)
    assert seen["after_url"].endswith("/ui?lifted=blocked")
    assert seen["notice"] == "Exclusion of blocked lifted."
    assert "excluded" not in seen["blocked_after"] and "Lift exclusion" not in seen["blocked_after"]
    assert (await page.providers())["blocked"]["exclusion"] is None


async def test_the_page_needs_a_key_and_takes_it_as_a_basic_password(page: Page) -> None:
    async with page.http.get(page.url + "/ui") as resp:
        assert resp.status == 401 and resp.headers["www-authenticate"].startswith("Basic")
        assert (await resp.json())["error"]["code"] == "invalid_api_key"
    async with page.http.get(page.url + "/ui", auth=aiohttp.BasicAuth("operator", "not-the-key")) as resp:
        assert resp.status == 401
    async with page.http.get(page.url + "/ui", auth=aiohttp.BasicAuth("operator", KEY)) as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"] and resp.headers["x-frame-options"] == "DENY"
        assert "<script" not in await resp.text()
    # a Basic password is no way into the API
    async with page.http.get(page.url + "/v1/crosswalk/providers", auth=aiohttp.BasicAuth("operator", KEY)) as resp:
        assert resp.status == 401


async def test_a_cross_site_form_or_a_stale_token_lifts_nothing(page: Page) -> None:
    auth = {"authorization": f"Bearer {KEY}"}
    async with page.http.get(page.url + "/ui", headers=auth) as resp:
        html = await resp.text()
    token = html.split("name=token value='")[1].split("'")[0]
    lift = page.url + "/ui/providers/blocked/unexclude"
    async with page.http.post(lift, data={"token": token}, headers={**auth, "origin": "http://evil.example"}, allow_redirects=False) as resp:
        assert resp.status == 403
    async with page.http.post(lift, data={"token": "0" * 32}, headers=auth, allow_redirects=False) as resp:
        assert resp.status == 403 and "reload /ui" in (await resp.json())["error"]["message"]
    async with page.http.post(lift, data={"token": token}, allow_redirects=False) as resp:
        assert resp.status == 401  # the key is needed too
    assert (await page.providers())["blocked"]["state"] == "excluded"
    async with page.http.post(lift, data={"token": token}, headers={**auth, "origin": page.url}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["location"] == "/ui?lifted=blocked"
    assert (await page.providers())["blocked"]["exclusion"] is None


async def test_proxy_ui_false_turns_the_page_off(tmp_path: Path, vendors: Vendors) -> None:
    proc, http = await _start(tmp_path, vendors, ui=False)
    try:
        async with http.get(proc.url + "/ui", headers={"authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["message"] == "no route /ui"
        async with http.post(proc.url + "/ui/providers/blocked/unexclude", headers={"authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 404
    finally:
        await http.close()
        await asyncio.to_thread(proc.stop)
