"""The field page on a flaky network: a report made offline waits in the outbox and is sent
exactly once when the network returns."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from cityops.geo.crs import transform
from tests.api.conftest import LiveServer
from tests.e2e.conftest import Pages, shot
from tests.e2e.seed import KAIFENG_FU_GCJ, PW, photo_bytes

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_offline_report_is_sent_once(pages: Pages, server: LiveServer, tmp_path: Path) -> None:
    lon, lat = transform(*KAIFENG_FU_GCJ, "gcj02", "wgs84")
    photo = tmp_path / "p.jpg"
    photo.write_bytes(photo_bytes("offline"))
    page = pages.staff(
        "jiandu",
        phone=True,
        geolocation={"longitude": lon, "latitude": lat},
        permissions=["geolocation"],
    )
    expect(page.locator("#fwhere")).to_contain_text("鼓楼区")  # GPS on load, placed in its grid
    marker = "离线上报 e2e-offline"
    page.context.set_offline(True)
    expect(page.locator("#net")).to_have_text("离线")
    page.locator("#fphoto").set_input_files(str(photo))
    page.locator(".group-btn", has_text="垃圾与卫生").click()
    page.locator(".type-btn", has_text="暴露垃圾").click()
    page.fill("[name=description]", marker)
    page.locator("#fsubmit").click()
    expect(page.locator("#pending-count")).to_have_text("1")
    page.wait_for_timeout(500)  # the sender tried and failed: still queued
    expect(page.locator("#pending-count")).to_have_text("1")
    page.locator("#outbox").scroll_into_view_if_needed()
    shot(page, "field-offline")

    page.context.set_offline(False)
    expect(page.locator("#net")).to_have_text("在线")
    expect(page.locator("#pending-count")).to_have_text("0", timeout=20_000)

    with httpx.Client(base_url=server.url, timeout=10) as http:
        token = http.post("/api/v1/auth/token", data={"username": "shouli", "password": PW})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        found = http.get("/api/v1/cases", params={"text": marker}, headers=auth)
        assert found.status_code == 200, found.text
        items = found.json()["items"]
    assert len(items) == 1, items
    assert items[0]["source"] == "patrol" and items[0]["type_code"] == "06010"
