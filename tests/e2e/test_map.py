"""城市运行一张图 without a base map: outlines, clustered cases, grids coloured by open cases
when zoomed in, and a click through from a case point to the case."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Pages, shot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_city_map(pages: Pages) -> None:
    page = pages.staff("lingdao")
    page.goto("/map")
    expect(page.locator(".region-label", has_text="鼓楼区")).to_be_visible()
    expect(page.locator(".cluster").first).to_be_visible()
    total = int(page.locator("#s-open").inner_text())
    assert total > 0
    # Clusters add up to what the side panel counts for the view.
    counts = page.locator(".cluster").evaluate_all(
        "els => els.map(e => parseInt(e.firstChild.textContent))"
    )
    singles = page.locator(
        "path.leaflet-interactive[fill='#1f5fd6'], path.leaflet-interactive[fill='#c62828']"
    )
    assert sum(counts) + singles.count() == total
    shot(page, "map")
    # Zoomed in: unit grids appear, coloured where cases are open; a point opens its case.
    page.goto("/map#16/34.79300/114.34270")
    page.reload()
    expect(page.locator("#s-zoom")).to_have_text("16")
    page.wait_for_function(
        'document.querySelectorAll(\'path[fill="#fbd38d"], path[fill="#f6a75a"], path[fill="#e8743b"], path[fill="#c62828"]\').length > 0'
    )
    point = page.locator("path.leaflet-interactive[stroke='#fff']").first
    point.click(force=True)
    link = page.locator(".leaflet-popup a", has_text="打开案件")
    expect(link).to_be_visible()
    link.click()
    page.wait_for_url("**/cases/410204-*")
    expect(page.locator("#state-badge")).to_be_visible()
