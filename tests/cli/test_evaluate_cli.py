"""`cityops evaluate` as a user runs it (a subprocess): Excel, HTML and JSON output, publishing,
snapshots and scheme checks, on the hand-computed fixture city (SQLite; the same numbers on
PostgreSQL are asserted in tests/integration/test_evaluation_store.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from tests.evaluation_fixture import World, forget_snapshots, shared_world

pytestmark = pytest.mark.xdist_group("evaluation")
CITYOPS = str(Path(sys.executable).parent / "cityops")
AS_OF = "2026-12-01T09:00"  # Beijing time: November is over


class Run:
    def __init__(self, url: str, data_dir: Path) -> None:
        self.env = {
            **os.environ,
            "CITYOPS_DATABASE_URL": url,
            "CITYOPS_DATA_DIR": str(data_dir),
            "COLUMNS": "200",
        }

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [CITYOPS, *args], env=self.env, capture_output=True, text=True, timeout=180
        )
        assert "Traceback" not in r.stdout + r.stderr
        assert r.returncode == code, r.stdout + r.stderr
        return r


@pytest.fixture(scope="module")
def city(
    fresh_db_url: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Run, World]]:
    world, engine = shared_world("sqlite", fresh_db_url, tmp_path_factory)
    url = engine.url.render_as_string(hide_password=False)
    yield Run(url, tmp_path_factory.mktemp("var")), world
    forget_snapshots(world)


def test_excel_one_sheet_per_subject_ready_to_print(
    city: tuple[Run, World], tmp_path: Path
) -> None:
    run, _world = city
    out = tmp_path / "2026-11.xlsx"
    r = run(
        "evaluate",
        "--period",
        "2026-11",
        "--subject",
        "department,street",
        "-f",
        "xlsx",
        "-o",
        str(out),
        "--as-of",
        AS_OF,
    )
    assert str(out) in r.stderr
    wb = load_workbook(out)
    assert wb.sheetnames == ["专业部门", "街道（乡镇）", "指标说明"]
    ws = wb["专业部门"]
    assert "专业部门" in ws["A1"].value and "2026年11月" in ws["A2"].value
    header = [c.value for c in ws[4]]
    units = [c.value for c in ws[5]]
    assert header[:8] == [
        "排名",
        "名称",
        "代码/编号",
        "类别",
        "综合得分",
        "等级",
        "得分变化",
        "名次变化",
    ]
    assert "应处置数" in header and "按期处置率" in header
    assert units[header.index("按期处置率")] == "%" and units[header.index("应处置数")] == "件"
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=6)]
    assert [(r[0], r[1], r[4], r[5]) for r in rows] == [
        (1, "环卫", 86.0, "B"),
        (2, "市政", 73.57, "C"),
    ]
    sz = rows[1]
    assert sz[header.index("应处置数")] == 7 and sz[header.index("按期处置率")] == 0.5714
    assert sz[6] == 73.57 and sz[7] == -1  # against October
    assert ws.cell(6, header.index("按期处置率") + 1).number_format == "0.00%"
    assert ws.print_title_rows == "$4:$5" and ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9 and ws.freeze_panes == "C6"  # 9: A4
    streets = wb["街道（乡镇）"]
    assert [c.value for c in streets["E"][5:7]] == [83.81, 64.67]


def test_html_report_embeds_charts_figures_and_case_lists(
    city: tuple[Run, World], tmp_path: Path
) -> None:
    run, world = city
    out = tmp_path / "2026-11.html"
    run(
        "evaluate",
        "--period",
        "2026-11",
        "-f",
        "html",
        "-o",
        str(out),
        "--as-of",
        AS_OF,
        "--trend",
        "3",
    )
    page = out.read_text(encoding="utf-8")
    assert "<title>综合评价报告 2026年11月</title>" in page
    for figure in ("73.57", "86.00", "83.81", "64.67", "92.29", "65.00", "83.33", "90.91"):
        assert figure in page
    assert "echarts.init" in page and "Apache Software Foundation" not in page[:200]
    assert not re.search(r"<script[^>]+src=", page)  # everything inline: opens offline
    assert "@page { size: A4 landscape" in page
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert data["cases"]["department"]["KF-SZ"]["handled_late"] == [
        world.numbers["C3"],
        world.numbers["C11"],
    ]
    assert data["trend"]["periods"] == ["2026-09", "2026-10", "2026-11"]
    assert [f["properties"]["name"] for f in data["districts"]["features"]] == ["410204"]


def test_json_publish_snapshots_and_schemes(city: tuple[Run, World], tmp_path: Path) -> None:
    run, _world = city
    doc = json.loads(
        run("evaluate", "--period", "2026-11", "--subject", "acceptor", "--as-of", AS_OF).stdout
    )
    [row] = doc["sections"][0]["rows"]
    assert row["figures"]["accepted"] == 14 and row["score"] == 83.33
    table = run(
        "evaluate",
        "--period",
        "2026-11",
        "--subject",
        "dispatcher",
        "-f",
        "table",
        "--as-of",
        AS_OF,
    ).stdout
    assert "paiqian" in table and "90.91" in table
    published = run(
        "evaluate", "publish", "--period", "2026-11", "--subject", "department", "--as-of", AS_OF
    ).stdout
    assert "2026-11 department" in published
    again = run(
        "evaluate",
        "publish",
        "--period",
        "2026-11",
        "--subject",
        "department",
        "--as-of",
        AS_OF,
        code=1,
    )
    assert "already_published" in again.stderr
    assert "2026-11" in run("evaluate", "snapshots").stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[scheme]\nname = "bad"\n[grades]\nA = 50\n', encoding="utf-8")
    err = run("evaluate", "check-scheme", str(bad), code=1).stderr
    assert "bad_scheme" in err and "grades" in err and "department" in err
    assert "--period" in run("evaluate", code=2).stdout
