"""Browser tests: a real server on SQLite with a seeded city, and headless Debian Chromium
driven by Playwright (no browser download: the system's /usr/bin/chromium, installed by
scripts/system-deps.sh from scripts/apt-packages.txt)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import Engine

from cityops.store.db import make_engine, session_factory
from cityops.store.migrate import upgrade
from tests.api.conftest import LiveServer
from tests.e2e.seed import PW, seed_cases, seed_city

CHROMIUM = os.environ.get("CITYOPS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1440, "height": 900}}
# Where `CITYOPS_SCREENSHOTS=docs/screenshots pytest tests/e2e` saves the pages it visits.
SHOTS = os.environ.get("CITYOPS_SCREENSHOTS")


@pytest.fixture(scope="session")
def e2e_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("e2e") / "cityops.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    factory = session_factory(eng)
    with factory.begin() as s:
        seed_city(s)
    with factory.begin() as s:
        seed_cases(s)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def server(e2e_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(e2e_engine, tmp_path_factory.mktemp("e2e-var")) as live:
        yield live


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make system-deps` (scripts/apt-packages.txt)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield b
    b.close()


class Pages:
    """New browser contexts (one per person) with console errors collected."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def open(self, *, phone: bool = False, lang: str = "zh-CN", **extra: Any) -> Page:
        ctx = self.browser.new_context(
            base_url=self.base_url,
            locale=lang,
            timezone_id="Asia/Shanghai",
            **(PHONE if phone else DESKTOP),
            **extra,
        )
        ctx.set_default_timeout(30_000)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page

    def staff(self, username: str, *, phone: bool = False, **extra: Any) -> Page:
        page = self.open(phone=phone, **extra)
        page.goto("/login")
        page.fill("[name=username]", username)
        page.fill("[name=password]", PW)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    def close(self) -> None:
        for c in self.contexts:
            c.close()


@pytest.fixture
def pages(browser: Browser, server: LiveServer) -> Iterator[Pages]:
    p = Pages(browser, server.url)
    yield p
    p.close()
    assert not p.errors, p.errors


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


# A loaded CI machine (two test workers on two cores) can take seconds to answer; assertions wait
# for the page rather than fail on a slow moment.
expect.set_options(timeout=30_000)
