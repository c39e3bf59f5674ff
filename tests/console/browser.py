"""Headless Chromium (Debian's ``chromium`` package, never a browser download) driven by Playwright,
against the test backend's app served on loopback; screenshots kept under ``var/test-artifacts``.

A missing browser fails the test with what to install: browser tests are never skipped quietly.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "console"
CHROMIUM = os.environ.get("YIXIANG_TEST_CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str:
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not found:
        pytest.fail(
            f"browser tests need Debian's chromium at {CHROMIUM} (or YIXIANG_TEST_CHROMIUM): "
            "apt-get install -y chromium (.ci/run does it)",
            pytrace=False,
        )
    return found


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The (already started) app on a loopback port, in this event loop; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    # uvicorn says it is listening by a flag only (no event to wait on)
    while not server.started:
        if task.done():
            task.result()  # it failed to start: raise that here
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Watched:
    """What a page did that a user would not want: console errors, requests to another host."""

    base_url: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        own = urlsplit(self.base_url).netloc
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                self.foreign.append(r.url)
                if urlsplit(r.url).scheme in ("http", "https") and urlsplit(r.url).netloc != own
                else None
            ),
        )
        return page


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Page, base_url: str, username: str, password: str = "yixiang-demo") -> None:
    await page.goto(f"{base_url}/console")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(f"{base_url}/console")


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
