"""Screenshots of the main pages at desktop (1440×900) and phone (390×844) sizes, for the README
and docs/web.md.

Usage: .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only queue,map] [--lang en]

Starts a real server on a temporary SQLite database with the browser tests' seeded city
(tests/e2e/seed.py), takes two cases through the loop over HTTP so the case, status and field
pages have photos, stages and tasks to show, and drives the system's headless Chromium
(/usr/bin/chromium, or CITYOPS_CHROMIUM) with Playwright. Files are `web-<page>-desktop.png` and
`web-<page>-phone.png`, reduced to a 256-colour palette to stay small.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.conftest import LiveServer  # noqa: E402
from tests.e2e.seed import KAIFENG_FU_GCJ, PW, photo_bytes, seed_cases, seed_city  # noqa: E402

from cityops.geo.crs import transform  # noqa: E402
from cityops.store.db import make_engine, session_factory  # noqa: E402
from cityops.store.migrate import upgrade  # noqa: E402

CHROMIUM = os.environ.get("CITYOPS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
LON, LAT = transform(*KAIFENG_FU_GCJ, "gcj02", "wgs84")
BAD_RULES = "类型代码,区域,部件权属,责任部门,自动派遣,备注\n06,全市,,KF-HW,否,市容\n0901,鼓楼区,,NOPE,否,x\n"


@dataclass
class Showcase:
    closed: str  # a case through the whole loop, closed (public status with the rating form)
    secret: str
    verified: str  # a case verified on site, waiting for the acceptor to close it


def _token(http: httpx.Client, user: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", data={"username": user, "password": PW})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _photo(
    http: httpx.Client, auth: dict[str, str], label: str, colour: tuple[int, int, int]
) -> str:
    files = {"file": (f"{label}.jpg", photo_bytes(label, colour), "image/jpeg")}
    r = http.post("/api/v1/attachments", files=files, headers=auth)
    r.raise_for_status()
    return str(r.json()["id"])


def _loop(http: httpx.Client, description: str, *, close: bool) -> tuple[str, str]:
    """A citizen's report taken through register → … → verified (→ closed) over the API."""
    r = http.post(
        "/public/report",
        data={
            "type_code": "06013",
            "lon": str(LON),
            "lat": str(LAT),
            "description": description,
            "phone": "13900001111",
        },
        files=[("photos", ("before.jpg", photo_bytes("before", (120, 110, 90)), "image/jpeg"))],
    )
    r.raise_for_status()
    number, secret = r.json()["number"], r.json()["secret"]
    users = {u: _token(http, u) for u in ("shouli", "paiqian", "shizheng", "jiandu")}

    def act(user: str, action: str, **body: object) -> None:
        case = http.get(f"/api/v1/cases/{number}", headers=users[user]).json()
        resp = http.post(
            f"/api/v1/cases/{number}/actions/{action}",
            json={"version": case["version"], **body},
            headers=users[user],
        )
        resp.raise_for_status()

    act("shouli", "register", condition="1")
    act("paiqian", "dispatch", department="KF-SZ")
    act("shizheng", "accept")
    after = _photo(http, users["shizheng"], "after", (80, 140, 110))
    act("shizheng", "report_done", note="已更换破损地砖，恢复通行", photos_after=[after])
    act("shouli", "request_verify", supervisor="jiandu")
    check = _photo(http, users["jiandu"], "check", (90, 110, 150))
    act("jiandu", "complete_verify", result=True, note="现场已修复", attachments=[check])
    if close:
        act("shouli", "close")
    return number, secret


def prepare(base_url: str) -> Showcase:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        closed, secret = _loop(http, "人行道地砖破损，有绊倒风险", close=True)
        verified, _ = _loop(http, "盲道砖块缺失两处", close=False)
    return Showcase(closed, secret, verified)


def _login(page: Page, user: str) -> None:
    page.goto("/login")
    page.fill("[name=username]", user)
    page.fill("[name=password]", PW)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # charts and map tiles finish their animations


Step = Callable[[Page, Showcase], None]


def _login_page(page: Page, s: Showcase) -> None:
    page.goto("/login")


def _queue(page: Page, s: Showcase) -> None:
    page.goto("/cases?mine=0")


def _case(page: Page, s: Showcase) -> None:
    page.goto(f"/cases/{s.verified}")
    page.locator("#actions button").first.wait_for()


def _map(page: Page, s: Showcase) -> None:
    page.goto("/map")
    page.locator(".cluster").first.wait_for()


def _dashboard(page: Page, s: Showcase) -> None:
    page.goto("/dashboard?period=month")


def _imports(page: Page, s: Showcase) -> None:
    page.goto("/admin/imports")
    page.locator("input[value=rules]").check()
    page.locator("input[type=file]").set_input_files(
        {"name": "rules.csv", "mimeType": "text/csv", "buffer": BAD_RULES.encode()}
    )
    page.locator("#import-form button[type=submit]").click()
    page.locator("#import-result .error").wait_for()


def _public(page: Page, s: Showcase) -> None:
    page.goto("/public")
    page.locator(".group-btn").first.click()
    page.locator(".type-btn").first.click()


def _status(page: Page, s: Showcase) -> None:
    page.goto(f"/public/cases/{s.closed}?s={s.secret}")


def _field(page: Page, s: Showcase) -> None:
    page.goto("/field")
    page.locator("#fwhere").filter(has_text="鼓楼区").wait_for()


# page name → (who, what to do); `None` is an anonymous visitor.
PAGES: dict[str, tuple[str | None, Step]] = {
    "login": (None, _login_page),
    "queue": ("shouli", _queue),
    "case": ("shouli", _case),
    "map": ("lingdao", _map),
    "dashboard": ("lingdao", _dashboard),
    "imports": ("guanli", _imports),
    "public": (None, _public),
    "status": (None, _status),
    "field": ("jiandu", _field),
}


def save_small(png: bytes, path: Path) -> int:
    """A screenshot as a 256-colour PNG (text and flat UI survive; a third of the bytes)."""
    with Image.open(io.BytesIO(png)) as im:
        small = im.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        small.save(path, optimize=True)
    return path.stat().st_size


def shoot(
    browser: Browser, base_url: str, s: Showcase, out: Path, only: set[str], lang: str = "zh-CN"
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (user, step) in PAGES.items():
        if only and name not in only:
            continue
        for size, opts in SIZES.items():
            ctx = browser.new_context(
                base_url=base_url,
                locale=lang,
                timezone_id="Asia/Shanghai",
                device_scale_factor=1,
                geolocation={"longitude": LON, "latitude": LAT},
                permissions=["geolocation"],
                **opts,
            )
            ctx.set_default_timeout(30_000)
            ctx.add_cookies([{"name": "cityops_lang", "value": lang, "url": base_url}])
            page = ctx.new_page()
            if user:
                _login(page, user)
            step(page, s)
            _settle(page)
            path = out / f"web-{name}-{size}.png"
            n = save_small(page.screenshot(), path)
            print(f"{path} {n // 1024} KB")
            ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lang", default="zh-CN", choices=["zh-CN", "en"])
    parser.add_argument("--only", default="", help="comma-separated page names: " + ",".join(PAGES))
    args = parser.parse_args()
    only = {x for x in args.only.split(",") if x}
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'cityops.db'}")
        upgrade(engine)
        factory = session_factory(engine)
        with factory.begin() as session:
            seed_city(session)
        with factory.begin() as session:
            seed_cases(session)
        with LiveServer(engine, Path(tmp) / "var") as live, sync_playwright() as pw:
            showcase = prepare(live.url)
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                shoot(browser, live.url, showcase, args.out, only, args.lang)
            finally:
                browser.close()
        engine.dispose()


if __name__ == "__main__":
    main()
