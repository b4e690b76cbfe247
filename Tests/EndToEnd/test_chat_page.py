"""The chat page that `tessera serve` answers at `/`, driven in a real headless Chromium.

Run with `make test-server` (or `python3 -m pytest -q Tests/EndToEnd/test_chat_page.py`). Needs
Debian's `chromium` and `chromium-driver` (`scripts/setup.sh --browser`, run by `make test`, installs them) and selenium
(scripts/requirements-server-test.txt); without them the tests fail, saying what is missing.

One browser for the module, with Chrome's performance log on: every request the page makes is
checked to go to the server under test (127.0.0.1) or to be a `data:` URI. Two servers: `server`
(no key) and `keyed` (`--api-key`). A screenshot of the page goes to Tests/EndToEnd/artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from test_serve import ABORTED, API_KEY, MODEL, Server, serving

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover - reported by the `browser` fixture
    webdriver = None

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOT = ARTIFACTS / "chat_page.png"
SCREENSHOT_PHONE = ARTIFACTS / "chat_page_phone.png"
# Greedy, this prompt keeps SmolLM2 talking past 200 tokens: streaming lasts seconds on a CPU.
LONG_PROMPT = "Write a long story about a dragon who learns to bake bread."
POLL = 0.05


# ----------------------------------------------------------------------------- fixtures


class Browser:
    """A headless Chromium through chromedriver; keeps every URL the pages asked for."""

    def __init__(self):
        missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
        if webdriver is None:
            missing.append("the selenium Python package (pip install -r scripts/requirements-server-test.txt)")
        if missing:
            pytest.fail("the chat page test needs " + ", ".join(missing)
                        + ": run scripts/setup.sh --browser (Debian: apt-get install chromium chromium-driver)", pytrace=False)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,800",
                    "--disable-gpu", "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    "--disable-component-update", "--disable-default-apps", "--disable-sync"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        # The driver's path given, selenium looks nothing up (no Selenium Manager download).
        service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
        try:
            self.driver = webdriver.Chrome(options=options, service=service)
        except WebDriverException as error:
            pytest.fail(f"chromium did not start through chromedriver: {error.msg}", pytrace=False)
        self.driver.set_script_timeout(10)
        self.urls: list[str] = []
        self.chat_bodies: list[dict] = []  # the JSON bodies POSTed to v1/chat/completions
        self.console: list[dict] = []

    def collect_logs(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                request = message["params"]["request"]
                self.urls.append(request["url"])
                if request["url"].endswith("/v1/chat/completions") and request["method"] == "POST":
                    self.chat_bodies.append(json.loads(request["postData"]))
        self.console += self.driver.get_log("browser")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait_for(self, what: str, condition, timeout: float = 30):
        """Polls `condition()` until it is truthy; returns its value or fails naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(POLL)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser():
    instance = Browser()
    try:
        yield instance
    finally:
        instance.quit()


@pytest.fixture(scope="module")
def server():
    with serving("--max-model-len", "2048", "--kv-cache-memory", "256MiB") as instance:
        assert instance.name == MODEL
        yield instance


@pytest.fixture(scope="module")
def keyed():
    with serving("--api-key", API_KEY, "--max-model-len", "2048", "--kv-cache-memory", "256MiB") as instance:
        yield instance


# ----------------------------------------------------------------------------- page helpers


def open_page(browser: Browser, server: Server) -> None:
    browser.driver.get(server.url + "/")
    assert browser.driver.title == "Tessera chat"
    browser.wait_for("the page to load", lambda: browser.js("return document.readyState === 'complete'"))


def set_setting(browser: Browser, field: str, value: str) -> None:
    """Types into a settings field through the UI (opening the settings if they are closed)."""
    if not browser.js("return document.getElementById('settings').open"):
        browser.find("#settings summary").click()
    element = browser.find("#" + field)
    element.clear()
    element.send_keys(value)


def send(browser: Browser, text: str) -> int:
    """Types `text` and presses Send; returns how many assistant bubbles there were before."""
    before = browser.js("return document.querySelectorAll('.assistant').length")
    browser.find("#input").send_keys(text)
    browser.find("#send").click()
    return before


def last_reply(browser: Browser) -> dict:
    return browser.js("""
        const replies = document.querySelectorAll('.assistant');
        const last = replies[replies.length - 1];
        return last ? {text: last.querySelector('.text').textContent, state: last.dataset.state,
                       note: last.querySelector('.note').textContent, count: replies.length} : null;""")


def errors(browser: Browser) -> list[str]:
    return browser.js("return [...document.querySelectorAll('.error')].map(e => e.textContent)")


def metric(server: Server, name: str) -> float:
    return server.metrics().get(name, 0.0)


# ----------------------------------------------------------------------------- tests


def test_page_served_without_auth(keyed):
    """`/` and `/favicon.ico` need no key (the /v1 API still does); the page is self-contained."""
    page = httpx.get(keyed.url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert '<meta name="viewport"' in html
    # No URL to anywhere: no src/href other than a data: URI (the SVG namespace is an identifier).
    for match in re.finditer(r'(?:src|href)\s*=\s*"([^"]*)"', html):
        assert match.group(1).startswith("data:"), match.group(0)
    icon = httpx.get(keyed.url + "/favicon.ico", timeout=10)
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert httpx.get(keyed.url + "/v1/models", timeout=10).status_code == 401


def test_chat_streams_and_stops(browser, server):
    open_page(browser, server)
    browser.wait_for("the model name", lambda: browser.find("#model").text == f"model: {MODEL}")
    kv = browser.wait_for("the KV cache use", lambda: re.fullmatch(
        r"KV cache: \d+\.\d% \((\d+)/(\d+) blocks\)", browser.find("#kv").text))
    assert int(kv.group(2)) > 0

    set_setting(browser, "temperature", "0")
    set_setting(browser, "max_tokens", "200")
    set_setting(browser, "system", "You are a storyteller.")

    # 1. A reply that streams: its text, polled every 50 ms, takes at least 3 increasing lengths.
    before = send(browser, LONG_PROMPT)
    lengths = []
    started = time.monotonic()
    while True:
        reply = last_reply(browser)
        if reply and reply["count"] > before:
            if not lengths or len(reply["text"]) != lengths[-1]:
                lengths.append(len(reply["text"]))
            if reply["state"] != "streaming":
                break
        assert time.monotonic() - started < 60, f"the reply did not finish: {reply}"
        time.sleep(POLL)
    elapsed = time.monotonic() - started
    assert reply["state"] == "done", (reply, errors(browser))
    assert reply["note"] == "(cut at max_tokens)", reply  # 200 tokens, still talking
    assert lengths == sorted(lengths) and len(set(lengths)) >= 3, lengths
    assert lengths[-1] == len(reply["text"]) > 200
    first_reply = reply["text"]
    assert elapsed > 1, f"200 tokens in {elapsed:.2f} s: too fast to see streaming"
    assert errors(browser) == []

    # 2. Stop mid-stream: the fetch is aborted, the server counts an aborted request.
    aborted = metric(server, ABORTED)
    before = send(browser, "Now tell it again, with a cat.")
    browser.wait_for("the second reply to start", lambda: (r := last_reply(browser)) and r["count"] > before
                     and len(r["text"]) >= 20)
    browser.find("#stop").click()
    reply = browser.wait_for("the page to show it stopped", lambda: (r := last_reply(browser))
                             and r["state"] == "stopped" and r, timeout=5)
    assert reply["note"] == "Stopped."
    stopped_at = len(reply["text"])
    assert browser.find("#send").is_displayed() and not browser.find("#stop").is_displayed()
    deadline = time.monotonic() + 5
    while metric(server, ABORTED) <= aborted:
        assert time.monotonic() < deadline, f"{ABORTED} stayed at {aborted} after Stop:\n{server.log_tail()}"
        time.sleep(POLL)
    assert metric(server, ABORTED) == aborted + 1
    time.sleep(0.3)
    assert len(last_reply(browser)["text"]) == stopped_at  # nothing more arrives
    browser.wait_for("the engine to be idle", lambda: metric(server, "tessera_num_requests_running") == 0, timeout=5)

    ARTIFACTS.mkdir(exist_ok=True)
    for path in (SCREENSHOT, SCREENSHOT_PHONE):
        path.unlink(missing_ok=True)
    assert browser.driver.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # 3. A phone-sized screen (375 px, the page's viewport meta honoured): one column, no sideways scroll.
    browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    try:
        width = browser.js("return [window.innerWidth, document.documentElement.scrollWidth,"
                           " document.getElementById('form').getBoundingClientRect().right]")
        assert width[0] == 375 and width[1] <= 375 and width[2] <= 375, width
        assert browser.driver.save_screenshot(str(SCREENSHOT_PHONE))
        assert SCREENSHOT_PHONE.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    browser.collect_logs()
    assert_only_local_requests(browser, server)
    # What the page sent: streaming, the settings, and the whole conversation each turn.
    first, second = browser.chat_bodies[-2:]
    system = {"role": "system", "content": "You are a storyteller."}
    assert first == {"model": MODEL, "stream": True, "temperature": 0, "top_p": 0.95, "max_tokens": 200,
                     "messages": [system, {"role": "user", "content": LONG_PROMPT}]}, first
    assert second["messages"] == [system, {"role": "user", "content": LONG_PROMPT},
                                  {"role": "assistant", "content": first_reply},
                                  {"role": "user", "content": "Now tell it again, with a cat."}], second


def test_api_key(browser, keyed):
    open_page(browser, keyed)
    browser.js("localStorage.clear()")
    open_page(browser, keyed)
    # Without a key the page's /v1 calls get 401, and it says so.
    browser.wait_for("the page to ask for the key", lambda: "API key needed" in browser.find("#model").text)
    assert browser.find("#kv").text.startswith("KV cache: ")  # /metrics needs no key
    set_setting(browser, "temperature", "0")
    set_setting(browser, "max_tokens", "12")
    send(browser, "Say hi")
    shown = browser.wait_for("the 401 in the conversation", lambda: errors(browser))
    assert "API key" in shown[-1] and "401" in shown[-1], shown
    assert browser.js("return document.getElementById('settings').open")
    assert browser.find("#input").get_attribute("value") == "Say hi"  # given back to send again

    # With the key: the model name appears and a message gets a reply.
    set_setting(browser, "key", API_KEY)
    browser.find("#input").clear()
    before = send(browser, "Say hi")
    reply = browser.wait_for("a reply", lambda: (r := last_reply(browser)) and r["count"] > before
                             and r["state"] != "streaming" and r)
    assert reply["state"] == "done" and reply["text"], (reply, errors(browser))
    assert len(errors(browser)) == 1
    browser.wait_for("the model name", lambda: browser.find("#model").text == f"model: {MODEL}", timeout=10)
    assert browser.js("return localStorage.getItem('tessera.key')") == API_KEY

    browser.collect_logs()
    assert_only_local_requests(browser, keyed)
    statuses = [entry for entry in browser.console if "401" in entry.get("message", "")]
    assert statuses, "Chromium logged no 401 for the keyless calls"


def assert_only_local_requests(browser: Browser, server: Server) -> None:
    assert browser.urls, "the performance log recorded no request"
    outside = [url for url in browser.urls
               if not url.startswith("http://127.0.0.1:") and not url.startswith("data:")]
    assert outside == [], outside
    here = [url for url in browser.urls if url.startswith(server.url + "/")]
    paths = {url[len(server.url):] for url in here}
    assert {"/", "/v1/models", "/metrics", "/v1/chat/completions"} <= paths, paths
