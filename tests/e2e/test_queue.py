"""The work queue at the keyboard: filter, move with j/k, select with x, bulk-dispatch to the
suggested departments, and the rows refresh in place."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.conftest import LiveServer
from tests.e2e.conftest import Pages, shot
from tests.e2e.seed import PW

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
POINT = {"lon": 114.3427, "lat": 34.7943}


def _registered(server: LiveServer, marker: str, n: int) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=10) as http:

        def auth(user: str) -> dict[str, str]:
            r = http.post("/api/v1/auth/token", data={"username": user, "password": PW})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        reporter, acceptor = auth("jiandu"), auth("shouli")
        numbers = []
        for i in range(n):
            body = {
                "source": "patrol",
                "type_code": "06036",
                "description": f"{marker} {i}",
                **POINT,
            }
            case = http.post("/api/v1/cases", json=body, headers=reporter).json()["case"]
            r = http.post(
                f"/api/v1/cases/{case['id']}/actions/register",
                json={"condition": "1", "version": case["version"]},
                headers=acceptor,
            )
            assert r.status_code == 200, r.text
            numbers.append(case["number"])
    return numbers


def test_keyboard_and_bulk_dispatch(pages: Pages, server: LiveServer) -> None:
    marker = "批量派遣 e2e-bulk"
    numbers = _registered(server, marker, 2)
    page = pages.staff("paiqian")
    shot(page, "queue")
    page.goto(f"/cases?mine=1&state=pending_dispatch&text={marker}")
    rows = page.locator("#rows tr[data-id]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_class("cur")
    page.keyboard.press("x")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("cur")
    page.keyboard.press("x")
    expect(page.locator("#bulk-count")).to_have_text("2")
    page.locator("[data-bulk=dispatch]").click()
    expect(page.locator(".toast")).to_contain_text("完成 2 件，失败 0 件")
    expect(page.locator("#rows tr.empty")).to_be_visible()  # refreshed: none left to dispatch
    page.goto(f"/cases?mine=0&text={marker}")
    expect(page.locator("#rows tr[data-id]")).to_have_count(2)
    for n in numbers:
        row = page.locator(f"tr[data-number='{n}']")
        expect(row).to_contain_text("城市管理综合行政执法支队")  # the 06036 rule's department
        expect(row).to_contain_text("待签收")
    # "/" focuses the search box; Escape leaves it; Enter opens the current row.
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/410204-*")
