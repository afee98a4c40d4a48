"""Accessibility basics in the browser: every form control on the main pages has an accessible
name, the keyboard goes through the login and public forms in their visual order with a visible
focus ring, and the text meets WCAG contrast (4.5:1, large text 3:1)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from cityops.geo.crs import transform
from tests.e2e.a11y import Focus, low_contrast, tab_path, unnamed_controls
from tests.e2e.conftest import Pages
from tests.e2e.seed import KAIFENG_FU_GCJ

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
LON, LAT = transform(*KAIFENG_FU_GCJ, "gcj02", "wgs84")
GPS: dict[str, Any] = {
    "geolocation": {"longitude": LON, "latitude": LAT},
    "permissions": ["geolocation"],
}

# Every action the case page can offer: each one's form is opened and checked.
ALL_ACTIONS = [
    "register", "void", "request_check", "complete_check", "dispatch", "return", "accept",
    "assign", "report_done", "request_verify", "complete_verify", "rework", "close",
    "request_suspension", "suspend", "resume", "request_extension", "approve_extension",
    "reject_extension", "urge", "supervise", "merge_duplicate",
]  # fmt: skip


def in_visual_order(path: list[Focus]) -> None:
    """Each stop is below the previous one, or on the same line to its right (fixed bars, which
    float over the page, are left out)."""
    flow = [f for f in path if not f.fixed]
    for a, b in itertools.pairwise(flow):
        same_line = abs(a.y - b.y) < 8
        assert b.y > a.y or (same_line and b.x > a.x), (a, b)


def test_form_controls_have_names(pages: Pages) -> None:
    staff = pages.staff("shouli")
    for path in ("/cases?mine=0", "/map", "/dashboard"):
        staff.goto(path)
        staff.wait_for_load_state("load")
        assert unnamed_controls(staff) == [], path
    # The queue's filters, by role and name as assistive technology sees them.
    staff.goto("/cases?mine=0")
    expect(staff.get_by_role("searchbox", name="编号、描述、地址")).to_be_visible()
    for name in ("状态", "全部大类", "区域", "全部来源", "全部部门", "排序"):
        expect(staff.get_by_role("combobox", name=name)).to_have_count(1)
    expect(staff.get_by_role("checkbox", name=re.compile("^选择 410204-"))).not_to_have_count(0)

    # Every action form the case page can show (the list of actions is widened to all of them).
    def all_actions(route: Route) -> None:
        body = route.fetch().json()
        body["actions"] = ALL_ACTIONS
        route.fulfill(json=body)

    staff.route(re.compile(r"/api/v1/cases/\d+/actions$"), all_actions)
    staff.locator("#rows a.open").first.click()
    expect(staff.locator("#actions button")).to_have_count(len(ALL_ACTIONS))
    for action in ALL_ACTIONS:
        staff.locator(f"#actions [data-action={action}]").click()
        form = staff.locator(f"form.action-form[data-action={action}]")
        expect(form).to_be_visible()
        assert unnamed_controls(staff, "form.action-form") == [], action
    staff.locator("#actions [data-action=request_extension]").click()
    expect(staff.get_by_role("spinbutton", name=re.compile("延期"))).to_be_visible()
    expect(staff.get_by_role("combobox", name=re.compile("延期"))).to_be_visible()

    admin = pages.staff("guanli")
    admin.goto("/admin/imports")
    assert unnamed_controls(admin) == []

    # The phone pages: the public report (with a group open), the status with its rating form,
    # the field report and a verification task.
    citizen = pages.open(phone=True)
    citizen.goto("/public")
    citizen.locator(".group-btn").first.click()
    expect(citizen.locator(".type-btn").first).to_be_visible()
    assert unnamed_controls(citizen) == []
    expect(citizen.get_by_label("添加照片")).to_have_count(1)
    expect(citizen.get_by_role("textbox", name="描述")).to_be_visible()

    supervisor = pages.staff("jiandu", phone=True, **GPS)
    expect(supervisor.locator("#fgroups .group-btn").first).to_be_visible()
    assert unnamed_controls(supervisor) == []
    supervisor.locator("[data-tab=tasks]").click()
    expect(supervisor.locator("form[data-task]").first).to_be_visible()
    assert unnamed_controls(supervisor) == []


def test_rating_stars_work_from_the_keyboard(pages: Pages) -> None:
    # A closed case from the seed, rated by keyboard: the stars are real radio buttons.
    staff = pages.staff("shouli")
    staff.goto("/cases?mine=0&state=closed")
    number = staff.locator("#rows tr[data-number]").first.get_attribute("data-number")
    assert number, "the seeded city has closed cases"
    citizen = pages.open(phone=True)
    citizen.goto(f"/public/cases/{number}")
    assert unnamed_controls(citizen) == []
    five = citizen.get_by_role("radio", name="5 星")
    expect(five).to_be_checked()
    five.focus()
    citizen.keyboard.press("ArrowLeft")
    expect(citizen.get_by_role("radio", name="4 星")).to_be_checked()
    expect(citizen.get_by_role("radio", name="4 星")).to_be_focused()
    ring = citizen.locator("label[for=star4]").evaluate("l => getComputedStyle(l).outlineStyle")
    assert ring == "solid"
    colours = citizen.locator(".stars label").evaluate_all(
        "ls => ls.map(l => getComputedStyle(l).color)"
    )
    assert colours[:4] == [colours[0]] * 4 and colours[4] != colours[0], colours  # ★★★★☆


def test_focus_order_and_visible_focus(pages: Pages) -> None:
    page = pages.open()
    page.goto("/login")
    expect(page.locator("[name=username]")).to_be_focused()  # autofocus
    page.locator("body").click(position={"x": 5, "y": 5})  # start the path from the page
    path = tab_path(page, 5)
    assert [f.key for f in path] == [
        "username",
        "password",
        "登录",
        "我是市民，我要反映问题 ›",
        "lang-switch",
    ]
    assert all(f.visible for f in path), [f for f in path if not f.visible]
    in_visual_order(path)

    citizen = pages.open(phone=True)
    citizen.goto("/public")
    citizen.locator(".group-btn").first.click()  # the types of the first group appear
    n_groups = citizen.locator(".group-btn").count()
    n_types = citizen.locator(".type-btn").count()
    citizen.locator(".phone-top").click()
    path = tab_path(citizen, 1 + n_groups + n_types + 8)
    keys = [f.key for f in path]
    assert keys[0] == "lang-switch"  # in the header
    assert [f.tag for f in path[1 : 1 + n_groups + n_types]] == ["BUTTON"] * (n_groups + n_types)
    assert keys[1 + n_groups + n_types :] == [
        "photo", "gps", "pickmap", "description", "phone", "submit", "number", "查询",
    ]  # fmt: skip
    assert all(f.visible for f in path), [f for f in path if not f.visible]
    # Top to bottom, left to right; the submit bar is pinned to the bottom of the screen and
    # comes right after the last field.
    in_visual_order(path)


def test_text_contrast(pages: Pages) -> None:
    """WCAG AA for text on the main pages (maps' tiles and labels are left out)."""
    problems: dict[str, list[dict[str, object]]] = {}

    def check(page: Page, label: str) -> None:
        page.wait_for_load_state("load")
        bad = low_contrast(page)
        if bad:
            problems[label] = bad

    anon = pages.open()
    anon.goto("/login")
    check(anon, "login")
    staff = pages.staff("shouli")
    staff.goto("/cases?mine=0&state=all")
    staff.locator("#pick-all").check()  # the bulk bar shows
    check(staff, "queue")
    staff.goto("/cases?mine=1")  # a case waiting for the acceptor: it has actions
    staff.locator("#rows a.open").first.click()
    expect(staff.locator("#actions button").first).to_be_visible()
    staff.locator("#actions button").first.click()
    check(staff, "case")
    staff.goto("/map")
    check(staff, "map")
    staff.goto("/dashboard?period=month")
    check(staff, "dashboard")
    staff.goto("/cases?mine=0&light=yellow")
    check(staff, "queue-yellow")
    admin = pages.staff("guanli")
    admin.goto("/admin/imports")
    check(admin, "imports")
    citizen = pages.open(phone=True)
    citizen.goto("/public")
    citizen.locator(".group-btn").first.click()
    citizen.locator(".type-btn").first.click()
    check(citizen, "public")
    staff.goto("/cases?mine=0&state=closed")
    number = staff.locator("#rows tr[data-number]").first.get_attribute("data-number")
    assert number, "the seeded city has closed cases"
    citizen.goto(f"/public/cases/{number}")
    check(citizen, "status")
    supervisor = pages.staff("jiandu", phone=True, **GPS)
    expect(supervisor.locator("#fwhere")).to_contain_text("鼓楼区")
    check(supervisor, "field")
    supervisor.context.set_offline(True)
    expect(supervisor.locator("#net")).to_have_text("离线")
    check(supervisor, "field-offline")
    supervisor.context.set_offline(False)
    lines = [
        f"{where}: {c['element']} «{c['text']}» {c['color']} on {c['background']} = {c['ratio']}"
        f" (needs {c['required']})"
        for where, found in problems.items()
        for c in found
    ]
    assert not lines, "\n".join(lines)
