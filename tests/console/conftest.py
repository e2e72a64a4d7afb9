"""A real local server over a fresh moto runtime, and Debian's Chromium driven by playwright.

Playwright's own browser downloads are never used: the tests launch ``/usr/bin/chromium`` (``make
test`` installs it with apt when it is missing) and skip, saying why, only when it cannot be found.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from local.auth import credentials
from local.runtime import LocalRuntime
from local.server import LocalApiServer

#: Runs are real (moto executes the ASL, the first LLM step imports anthropic): be patient, not flaky.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    found = os.environ.get("STEPWISE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).is_file() and os.access(found, os.X_OK) else None


@dataclass
class Console:
    """The server under test, plus a plain HTTP client for arranging runs the browser then reads."""

    runtime: LocalRuntime
    server: LocalApiServer
    #: Every message the browser's console printed (CSP violations show up here).
    browser_messages: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def credentials(self, client: str = "crm-sync") -> dict[str, str]:
        return credentials(self.server.issuer, client)

    def request(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(self.server.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        sent = {**self.credentials(), **(headers or {})}
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        answer = response.status, dict(response.getheaders()), response.read().decode()
        connection.close()
        return answer


@pytest.fixture
def console() -> Iterator[Console]:
    with LocalRuntime(env={"STEPWISE_APPROVAL_LINK_BASE_URL": "http://127.0.0.1:1"}) as runtime:
        server = LocalApiServer(runtime, port=0, sweep_every_s=3600).start()
        try:
            yield Console(runtime=runtime, server=server)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium found (make browser installs Debian's chromium with apt)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.on("console", lambda message: console.browser_messages.append(f"{message.type}: {message.text}"))
    opened.on("pageerror", lambda error: console.browser_messages.append(f"pageerror: {error}"))
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
