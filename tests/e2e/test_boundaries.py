"""Permission boundaries as people meet them in the browser: a department sees and acts on its
own cases only, a supervisor cannot open the imports, and a visitor without an account is sent to
the sign-in from every staff page but can report and follow a case on the public pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.conftest import LiveServer
from tests.e2e.conftest import Pages
from tests.e2e.seed import DEPARTMENTS, PW

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
POINT = {"lon": 114.3427, "lat": 34.7943}
# What only the centre does: a department must never be offered these.
CENTRE_ONLY = {"register", "void", "dispatch", "close", "urge", "supervise", "request_verify",
               "rework", "approve_extension", "reject_extension", "suspend", "merge_duplicate"}  # fmt: skip


def dispatched_to(server: LiveServer, department: str, description: str) -> dict[str, Any]:
    """A case reported, registered and dispatched to `department` (over the API)."""
    with httpx.Client(base_url=server.url, timeout=30) as http:

        def auth(user: str) -> dict[str, str]:
            r = http.post("/api/v1/auth/token", data={"username": user, "password": PW})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        body = {"source": "patrol", "type_code": "06013", "description": description, **POINT}
        case = http.post("/api/v1/cases", json=body, headers=auth("jiandu")).json()["case"]
        for user, action, extra in (
            ("shouli", "register", {"condition": "1"}),
            ("paiqian", "dispatch", {"department": department}),
        ):
            r = http.post(
                f"/api/v1/cases/{case['id']}/actions/{action}",
                json={"version": case["version"], **extra},
                headers=auth(user),
            )
            assert r.status_code == 200, r.text
            case = r.json()
        return dict(case)


def refused(page: Page, path: str, status: int, message: str) -> None:
    """The page answers `status` with the app's own error page (in the shell), not a
    traceback and not the thing asked for."""
    resp = page.goto(path)
    assert resp is not None and resp.status == status, (path, resp and resp.status)
    expect(page.locator("main h1")).to_have_text("无法打开")
    expect(page.locator("main .error")).to_contain_text(message)
    expect(page.locator(".topbar .nav")).to_be_visible()  # still inside the application
    body = page.content()
    assert "Traceback" not in body and "Internal Server Error" not in body


def test_department_sees_and_acts_on_its_own_cases_only(pages: Pages, server: LiveServer) -> None:
    own = dispatched_to(server, "KF-SZ", "边界测试 本部门 e2e-scope")
    other = dispatched_to(server, "KF-HW", "边界测试 其他部门 e2e-scope")
    page = pages.staff("shizheng")
    assert page.url.endswith("/cases")
    expect(page.locator(".nav a")).to_have_text(["工作台", "一张图", "运行看板"])  # no imports

    # The queue, all states: only cases of 市政工程管理处, and the other's case is not there.
    page.goto("/cases?mine=0&state=all")
    rows = page.locator("#rows tr[data-id]")
    expect(rows.first).to_be_visible()
    departments = rows.evaluate_all("rs => rs.map(r => r.children[8].textContent.trim())")
    assert set(departments) == {DEPARTMENTS["KF-SZ"]}, departments
    expect(page.locator(f"tr[data-number='{own['number']}']")).to_have_count(1)
    expect(page.locator(f"tr[data-number='{other['number']}']")).to_have_count(0)
    # Asking for another department's cases by filter gives nothing, in the page and the rows.
    page.goto("/cases?mine=0&state=all&department=KF-HW")
    expect(page.locator("#rows tr.empty")).to_be_visible()
    expect(page.locator("#total")).to_have_text("0")
    rows_html = page.request.get("/cases/rows?mine=0&state=all&department=KF-HW")
    assert rows_html.ok and "data-id" not in rows_html.text()
    # The bulk bar offers accepting, not dispatching or urging.
    page.goto("/cases?mine=1")
    expect(page.locator("[data-bulk=accept]")).to_have_count(1)
    expect(page.locator("[data-bulk=dispatch], [data-bulk=urge], #bulk-dept")).to_have_count(0)

    # Another department's case by its address: a 403 page, none of the case.
    refused(page, f"/cases/{other['number']}", 403, "该案件不在您的数据范围内")
    assert other["description"] not in page.content()
    expect(page.locator("#case-data, #actions")).to_have_count(0)
    # ... and the API the page would use refuses too.
    api = page.request.post(
        f"/api/v1/cases/{other['id']}/actions/accept", data={"version": other["version"]}
    )
    assert api.status == 403, api.text()

    # Its own case: exactly the actions the API allows a department now, none of the centre's.
    page.goto(f"/cases/{own['number']}")
    buttons = page.locator("#actions button[data-action]")
    expect(buttons.first).to_be_visible()
    shown = buttons.evaluate_all("bs => bs.map(b => b.dataset.action)")
    allowed = page.request.get(f"/api/v1/cases/{own['id']}/actions").json()["actions"]
    assert shown == allowed, (shown, allowed)
    assert "accept" in shown and "return" in shown
    assert not CENTRE_ONLY & set(shown), shown


def test_supervisor_cannot_open_imports(pages: Pages) -> None:
    page = pages.staff("jiandu")
    assert page.url.endswith("/field")
    refused(page, "/admin/imports", 403, "仅管理员可以导入数据")
    expect(page.locator("#import-form")).to_have_count(0)
    posted = page.request.post(
        "/admin/imports",
        multipart={
            "kind": "rules",
            "file": {"name": "rules.csv", "mimeType": "text/csv", "buffer": b"x"},
        },
    )
    assert posted.status == 403
    page.locator("main a[href='/']").click()  # back: to the supervisor's own start page
    page.wait_for_url("**/field")


def test_anonymous_visitor(pages: Pages) -> None:
    page = pages.open()
    for path in ("/cases", "/cases/410204-20260101-0001", "/map", "/dashboard", "/field",
                 "/admin/imports", "/"):  # fmt: skip
        page.goto(path)
        page.wait_for_url("**/login**")
        expect(page.locator("input[name=username]")).to_be_visible()
    for path in ("/api/v1/cases", "/cases/rows"):
        assert page.request.get(path).status == 401, path
    # Signing in from a redirect lands on the page asked for.
    page.goto("/dashboard?period=month")
    page.fill("[name=username]", "lingdao")
    page.fill("[name=password]", PW)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard?period=month")
    expect(page.locator(".tabs a.on")).to_have_text("本月")

    # The public pages need no account: the report form and a case's status.
    citizen = pages.open(phone=True)
    citizen.goto("/public")
    expect(citizen.locator(".group-btn")).not_to_have_count(0)
    citizen.locator(".group-btn").first.click()
    expect(citizen.locator(".type-btn")).not_to_have_count(0)
    page.goto("/cases?mine=0&state=all")
    number = page.locator("#rows tr[data-number]").first.get_attribute("data-number") or ""
    citizen.fill("[name=number]", number)
    citizen.locator("form[action='/public/find'] button").click()
    citizen.wait_for_url(f"**/public/cases/{number}")
    expect(citizen.locator("#number")).to_have_text(number)
    expect(citizen.locator(".stages li")).to_have_count(6)
