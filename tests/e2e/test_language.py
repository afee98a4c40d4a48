"""Chinese first, English one click away: the switch in the header changes the page texts (the
server's and the scripts'), keeps the view the user was on, sticks across navigation, and leaves
numbers, times and dates as they were; the public pages switch the same way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Pages

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
TIME_LEFT_EN = re.compile(r"^(\d+d \d+h|\d+h \d+m|\d+m) (left|over)$|^clock paused$")
TIME_LEFT_ZH = re.compile(r"^(剩余|超时) \S+$|^已暂停计时$")
SHORT_TIME = re.compile(r"^\d{2}-\d{2} \d{2}:\d{2}$")
FULL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
QUEUE_HEADERS = ["", "Deadline", "Case number", "Type / description", "State", "Stage", "Place",
                 "Source", "Department", "Reported"]  # fmt: skip


def switch(page: Page, to: str) -> None:
    before = page.url.split("://", 1)[1].split("/", 1)[1]
    page.locator("#lang-switch").click()
    page.wait_for_url(lambda url: url.endswith(before))  # the same view comes back
    expect(page.locator("html")).to_have_attribute("lang", to)


def queue_figures(page: Page) -> tuple[list[str], list[str]]:
    lights = page.locator("#rows tr[data-id] .light").all_inner_texts()
    reported = page.locator("#rows tr[data-id] td:last-child").all_inner_texts()
    return [x.strip() for x in lights], [x.strip() for x in reported]


def test_staff_pages_switch_and_stay(pages: Pages) -> None:
    page = pages.staff("shouli")
    page.goto("/cases?mine=0&state=all&sort=-reported_at")
    expect(page.locator("main h1")).to_have_text("我的工作台")
    expect(page.locator("#refreshed")).to_contain_text("已刷新")  # a text from the script
    zh_total = page.locator("#total").inner_text()
    zh_lights, zh_times = queue_figures(page)
    assert zh_lights and all(TIME_LEFT_ZH.match(x) for x in zh_lights), zh_lights

    switch(page, "en")
    expect(page.locator("main h1")).to_have_text("My work queue")
    expect(page.locator(".page-head .tabs a")).to_have_text(["Waiting for me", "All cases"])
    expect(page.locator(".nav a")).to_have_text(["Work queue", "City map", "Dashboard"])
    expect(page.locator("#queue th")).to_have_text(QUEUE_HEADERS)
    expect(page.locator(".filters .chip")).to_have_text(["Overdue", "Warning", "On time"])
    expect(page.locator("select[name=sort] option:checked")).to_have_text("Newest")
    expect(page.locator("select[name=state] option:checked")).to_have_text("All (incl. closed)")
    expect(page.locator("#refreshed")).to_contain_text("Refreshed")
    # The same cases, the same figures: numbers and times do not depend on the language.
    expect(page.locator("#total")).to_have_text(zh_total)
    en_lights, en_times = queue_figures(page)
    assert en_times == zh_times and all(SHORT_TIME.match(x) for x in en_times), en_times
    assert len(en_lights) == len(zh_lights)
    assert all(TIME_LEFT_EN.match(x) for x in en_lights), en_lights
    assert re.search(r"[\u4e00-\u9fff]", page.locator("#queue thead").inner_text()) is None

    # Navigation keeps English: the dashboard (server texts and the charts' script texts) ...
    page.locator(".nav a", has_text="Dashboard").click()
    page.wait_for_url("**/dashboard")
    expect(page.locator("main h1")).to_have_text("Dashboard")
    expect(page.locator("[data-kpi=reported] .label")).to_contain_text("Reported")
    expect(page.locator("[data-kpi=on_time_rate] .label")).to_contain_text("On-time rate")
    expect(page.locator("[data-kpi=overdue] .label")).to_contain_text("Overdue now")
    for kpi in ("reported", "registered", "dispatched", "closed", "overdue"):
        assert re.fullmatch(r"\d+", page.locator(f"[data-kpi={kpi}] .value").inner_text())
    rate = page.locator("[data-kpi=on_time_rate] .value").inner_text()
    assert re.fullmatch(r"\d{1,3}\.\d%|—", rate.replace("\n", "")), rate
    expect(page.locator(".page-head .muted")).to_have_text(re.compile(r"^Updated \d\d:\d\d:\d\d$"))
    # ... and a case, with its dates and the actions its script draws.
    page.goto("/cases?mine=1&state=reported")
    page.locator("#rows a.open").first.click()
    page.wait_for_url("**/cases/410204-*")
    expect(page.locator(".kv dt").first).to_have_text("Case number")
    reported = page.locator(".kv dt", has_text="Reported").locator("xpath=following-sibling::dd[1]")
    expect(reported).to_have_text(FULL_TIME)
    expect(page.locator("#actions [data-action=register]")).to_contain_text("Register")
    expect(page.locator("#timeline li").first.locator(".t-action")).to_have_text("Report")

    # Back to Chinese, and that sticks too.
    switch(page, "zh-CN")
    expect(page.locator(".kv dt").first).to_have_text("案件编号")
    expect(page.locator("#actions [data-action=register]")).to_contain_text("立案")
    page.locator(".nav a", has_text="运行看板").click()
    expect(page.locator("main h1")).to_have_text("运行看板")
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookie["cityops_lang"] == "zh-CN"


def test_public_pages_switch(pages: Pages) -> None:
    staff = pages.staff("shouli")
    staff.goto("/cases?mine=0&state=closed")
    number = staff.locator("#rows tr[data-number]").first.get_attribute("data-number")
    assert number, "the seeded city has closed cases"

    citizen = pages.open(phone=True)
    citizen.goto("/public")
    expect(citizen.locator(".phone-top .title")).to_have_text("我要反映问题")
    switch(citizen, "en")
    expect(citizen.locator(".phone-top .title")).to_have_text("Report a problem")
    expect(citizen.locator(".group-btn").first).to_contain_text("Rubbish and cleanliness")
    expect(citizen.locator("#submit")).to_have_text("Send")
    expect(citizen.get_by_role("textbox", name="Description")).to_be_visible()

    # The status page, opened with its rating code: the switch keeps the code in the address.
    citizen.goto(f"/public/cases/{number}?s=not-a-real-code")
    expect(citizen.locator(".phone-top .title")).to_have_text("Progress")
    expect(citizen.locator(".stages li").first).to_contain_text(re.compile("^Reported", re.I))
    stamps = citizen.locator(".stages li small").all_inner_texts()
    assert stamps and all(SHORT_TIME.match(s) for s in stamps), stamps
    expect(citizen.locator("[name=secret]")).to_have_value("not-a-real-code")
    switch(citizen, "zh-CN")
    expect(citizen.locator(".phone-top .title")).to_have_text("办理进度")
    expect(citizen.locator(".stages li").first).to_contain_text("上报")
    expect(citizen.locator("[name=secret]")).to_have_value("not-a-real-code")
    assert citizen.locator(".stages li small").all_inner_texts() == stamps
