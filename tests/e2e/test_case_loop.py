"""The whole loop as people would do it, in a real browser: a citizen reports on the public page,
the acceptor registers, the dispatcher dispatches, the department handles with a photo, the
supervisor verifies on the field page, the acceptor closes, the dashboard counts it and lists it,
and the citizen follows the case and rates the result."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from cityops.geo.crs import transform
from tests.e2e.conftest import Pages, shot
from tests.e2e.seed import KAIFENG_FU_GCJ, photo_bytes

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
LON, LAT = transform(*KAIFENG_FU_GCJ, "gcj02", "wgs84")
GPS: dict[str, Any] = {
    "geolocation": {"longitude": LON, "latitude": LAT},
    "permissions": ["geolocation"],
}


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, colour in (
        ("before", (120, 110, 90)),
        ("after", (80, 140, 110)),
        ("check", (90, 110, 150)),
    ):
        p = tmp_path / f"{name}.jpg"
        p.write_bytes(photo_bytes(name, colour))
        out[name] = p
    return out


def open_case(page: Page, number: str) -> None:
    """From the queue, the way an operator does it: find the row, move to it, press Enter."""
    page.goto("/cases?mine=0&text=" + number)
    row = page.locator(f"tr[data-number='{number}']")
    expect(row).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/cases/{number}")
    expect(page.locator("#actions button").first).to_be_visible()


def act(
    page: Page, label: str, fill: dict[str, str] | None = None, files: Path | None = None
) -> None:
    page.locator("#actions button", has_text=label).click()
    form = page.locator("form.action-form")
    for name, value in (fill or {}).items():
        field = form.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    if files is not None:
        form.locator("input[type=file]").set_input_files(str(files))
        expect(form.locator(".previews img")).to_have_count(1)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")


def state(page: Page) -> str:
    return page.locator("#state-badge").inner_text()


def test_the_whole_loop(pages: Pages, photos: dict[str, Path]) -> None:
    # 1. A citizen reports on the phone: type from a plain-language group, photo, GPS.
    citizen = pages.open(phone=True, **GPS)
    citizen.goto("/public")
    citizen.locator(".group-btn", has_text="道路与设施").click()
    citizen.locator(".type-btn", has_text="道路破损").click()
    citizen.locator("#photo").set_input_files(str(photos["before"]))
    expect(citizen.locator("#previews img")).to_have_count(1)
    citizen.locator("#gps").click()
    expect(citizen.locator("#where")).to_contain_text("鼓楼区")
    citizen.fill("[name=description]", "人行道地砖破损，有绊倒风险 e2e-loop")
    citizen.fill("[name=phone]", "13900001111")
    shot(citizen, "public-report")
    citizen.locator("#submit").click()
    expect(citizen.locator("#done")).to_be_visible()
    number = citizen.locator("#done-number").inner_text().strip()
    secret = citizen.locator("#done-secret").inner_text().strip()
    assert re.fullmatch(r"410204-\d{8}-\d{4}", number), number

    # 2. The acceptor finds it in the queue and registers it with a condition.
    acceptor = pages.staff("shouli")
    expect(acceptor.locator(f"tr[data-number='{number}']")).to_be_visible()  # "waiting for me"
    open_case(acceptor, number)
    expect(acceptor.locator("#state-badge")).to_have_text("待受理")
    act(acceptor, "立案")
    expect(acceptor.locator("#state-badge")).to_have_text("待派遣")

    # 3. The dispatcher dispatches to the suggested department (the rule says 市政工程管理处).
    dispatcher = pages.staff("paiqian")
    open_case(dispatcher, number)
    expect(dispatcher.locator("#suggestion")).to_contain_text("市政工程管理处")
    act(dispatcher, "派遣")
    expect(dispatcher.locator("#state-badge")).to_have_text("待签收")

    # 4. The department accepts and reports the result with an after photo.
    department = pages.staff("shizheng")
    open_case(department, number)
    act(department, "签收")
    expect(department.locator("#state-badge")).to_have_text("处置中")
    act(department, "处置反馈", {"note": "已更换破损地砖"}, files=photos["after"])
    expect(department.locator("#state-badge")).to_have_text("已处置")
    expect(department.locator(".photo-cols img")).to_have_count(2)  # before + after

    # 5. The acceptor sends a verification task to the grid's supervisor (preselected).
    acceptor.reload()
    act(acceptor, "派发核实")
    expect(acceptor.locator("#state-badge")).to_have_text("核实中")

    # 6. The supervisor verifies on the field page (phone), with a photo.
    supervisor = pages.staff("jiandu", phone=True, **GPS)
    assert supervisor.url.endswith("/field")
    supervisor.locator("[data-tab=tasks]").click()
    task = supervisor.locator("form[data-task]", has=supervisor.locator(f"text={number}"))
    expect(task).to_be_visible()
    task.locator("[name=note]").fill("现场已修复")
    task.locator("input[type=file]").set_input_files(str(photos["check"]))
    shot(supervisor, "field-tasks")
    task.locator("button[type=submit]").click()
    expect(supervisor.locator(".toast")).to_contain_text("任务结果已送达")
    expect(supervisor.locator("#pending-count")).to_have_text("0")

    # 7. The acceptor closes the case.
    acceptor.reload()
    act(acceptor, "结案")
    expect(acceptor.locator("#state-badge")).to_have_text("已结案")
    timeline = acceptor.locator("#timeline li")
    assert [li.get_attribute("data-action") for li in timeline.all()] == [
        "report", "register", "dispatch", "accept", "report_done",
        "request_verify", "complete_verify", "close",
    ]  # fmt: skip
    shot(acceptor, "case-detail", full_page=True)

    # 8. The dashboard counts it today, and the number clicks through to the list behind it.
    leader = pages.staff("lingdao")
    leader.goto("/dashboard?period=today")
    closed = leader.locator("[data-kpi=closed] .value").inner_text()
    assert int(closed) >= 1
    shot(leader, "dashboard")
    leader.locator("[data-kpi=closed]").click()
    expect(leader.locator(f"tr[data-number='{number}']")).to_be_visible()
    expect(leader.locator("#total")).to_have_text(closed)

    # 9. The citizen follows the case (no reporter identity shown) and rates the result once.
    citizen.goto(f"/public/cases/{number}?s={secret}")
    expect(citizen.locator("#stage")).to_have_text("结案")
    assert "13900001111" not in citizen.content()
    imgs = citizen.locator(".photos img")
    expect(imgs).to_have_count(3)  # the report, the result, the verification
    src = imgs.first.get_attribute("src")
    assert src is not None and src.startswith(f"/public/photos/{number}/")
    body = citizen.request.get(src).body()
    with Image.open(io.BytesIO(body)) as im:
        assert not im.getexif(), "public photos must have no EXIF"
    citizen.locator("label[for=star4]").click()
    citizen.fill("[name=comment]", "处理很及时")
    shot(citizen, "public-status")
    citizen.locator("#rate-form button[type=submit]").click()
    expect(citizen.locator("#rated")).to_be_visible()
    expect(citizen.locator("#rate-form")).to_have_count(0)
