"""Evaluation reports: an Excel workbook (one sheet per subject type, ready to print) and a
standalone HTML page with charts (rank bars, trend lines, heat by district) that prints to A4.

Both are made from the JSON of an evaluation (``Evaluation.to_json()`` or a published snapshot's
sections), so a report of a published period shows exactly the frozen figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

import shapely
from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.evaluation import EvaluationPeriod, Scheme, SubjectType
from cityops.services import evaluation as svc
from cityops.store.schema import Case, Region

GRADE_COLOURS = {"A": "2E7D32", "B": "7CB342", "C": "FBC02D", "D": "F57C00", "E": "C62828"}
MODE_LABELS = {"value": "比率×100", "inverse": "(1−比率)×100", "band": "分档表"}


def drill_url(base: str, period: str, subject: str, ident: str, figure: str) -> str:
    query = urlencode({"period": period, "subject": subject, "id": ident, "figure": figure})
    return f"{base.rstrip('/')}/api/v1/evaluations/cases?{query}"


def _status(section: Mapping[str, Any]) -> str:
    if section.get("source") == "snapshot":
        return (
            f"已发布（快照 {section.get('snapshot_id')}，{section.get('published_at', '')[:16]}）"
        )
    return "实时计算（未发布）"


# --- Excel -----------------------------------------------------------------------------------------------


def to_xlsx(doc: Mapping[str, Any], *, base_url: str | None = None) -> bytes:
    """One sheet per subject type: title, period, scheme; header with units; rank, score, grade,
    change, every indicator; A4 landscape, fitted to the page width, header rows repeated.
    With ``base_url`` every figure links to its drill-down."""
    wb = Workbook()
    wb.remove(wb.active)
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_fill = PatternFill("solid", fgColor="DCE6F1")
    for section in doc["sections"]:
        ws = wb.create_sheet(title=section["title"][:31])
        indicators = section["indicators"]
        fixed = [
            ("排名", "名"),
            ("名称", ""),
            ("代码/编号", ""),
            ("类别", ""),
            ("综合得分", "分"),
            ("等级", ""),
            ("得分变化", "分"),
            ("名次变化", "位"),
        ]
        columns = fixed + [(i["name"], i["unit"]) for i in indicators]
        ncol = len(columns)
        ws.cell(1, 1, f"城市运行管理服务平台综合评价 — {section['title']}").font = Font(
            size=14, bold=True
        )
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncol)
        scheme = section.get("scheme") or doc["scheme"]
        info = (
            f"考评期间：{doc['label']}（{doc['start'][:10]} 至 {_last_day(doc)}，北京时间）    "
            f"统计截止：{doc['as_of'][:16].replace('T', ' ')}    "
            f"方案：{scheme['title']}（{scheme.get('label') or ''}，版本 {scheme['version'][:12]}）    "
            f"状态：{_status(section)}"
        )
        ws.cell(2, 1, info).font = Font(size=9)
        ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncol)
        parts = "；".join(
            f"{_ind_name(section, c['indicator'])} {c['weight']:g}（{MODE_LABELS[c['mode']]}）"
            for c in section["components"]
        )
        grades = "、".join(f"{g} ≥ {b:g}" for g, b in section["grades"].items())
        ws.cell(3, 1, f"综合得分 = {parts}。等级：{grades}，其余为 E。").font = Font(size=9)
        ws.merge_cells(start_row=3, start_column=1, end_row=3, end_column=ncol)
        for col, (name, unit) in enumerate(columns, start=1):
            for row, text in ((4, name), (5, unit or "—")):
                c = ws.cell(row, col, text)
                c.font = Font(bold=row == 4, size=10 if row == 4 else 9)
                c.fill = head_fill
                c.border = box
                c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        r = 6
        for row in section["rows"]:
            change = row.get("change") or {}
            values: list[Any] = [
                row["rank"],
                row["name"],
                row["id"],
                row.get("class_title") or "",
                row["score"],
                row["grade"] or "",
                change.get("score"),
                change.get("rank"),
            ]
            for col, v in enumerate(values, start=1):
                c = ws.cell(r, col, v)
                c.border = box
            ws.cell(r, 5).number_format = "0.00"
            ws.cell(r, 7).number_format = "+0.00;-0.00;0.00"
            ws.cell(r, 8).number_format = "+0;-0;0"
            if row["grade"]:
                g = ws.cell(r, 6)
                g.fill = PatternFill("solid", fgColor=GRADE_COLOURS[row["grade"]])
                g.font = Font(bold=True, color="FFFFFF")
                g.alignment = Alignment(horizontal="center")
            for k, ind in enumerate(indicators, start=len(fixed) + 1):
                value = row["figures"][ind["key"]]
                c = ws.cell(r, k)
                c.border = box
                if isinstance(value, dict):
                    c.value = value["value"]
                    c.number_format = "0.00%"
                else:
                    c.value = value
                if base_url:
                    c.hyperlink = drill_url(
                        base_url, doc["period"], section["subject"], row["id"], ind["key"]
                    )
            r += 1
        if not section["rows"]:
            ws.cell(r, 1, "本期无数据")
        widths = [6, 22, 18, 10, 9, 6, 9, 8] + [9] * len(indicators)
        for col, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(col)].width = w
        ws.row_dimensions[4].height = 30
        ws.freeze_panes = "C6"
        ws.print_title_rows = "4:5"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_options.horizontalCentered = True
        ws.page_margins.left = ws.page_margins.right = 0.4
        ws.oddFooter.center.text = "第 &P 页，共 &N 页"
        ws.oddHeader.right.text = f"{doc['label']} {section['title']}"
    _definitions_sheet(wb, doc)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _last_day(doc: Mapping[str, Any]) -> str:
    return EvaluationPeriod.parse(doc["period"]).last.isoformat()


def _ind_name(section: Mapping[str, Any], key: str) -> str:
    for i in section["indicators"]:
        if i["key"] == key:
            return str(i["name"])
    return key


def _definitions_sheet(wb: Workbook, doc: Mapping[str, Any]) -> None:
    ws = wb.create_sheet(title="指标说明")
    ws.cell(1, 1, "指标定义（详见 docs/evaluation.md）").font = Font(size=14, bold=True)
    r = 3
    for col, text in enumerate(("考评对象", "指标", "代码", "单位", "定义"), start=1):
        ws.cell(r, col, text).font = Font(bold=True)
    seen: set[str] = set()
    for section in doc["sections"]:
        family = SubjectType(section["subject"]).family.value
        if family in seen:
            continue
        seen.add(family)
        for ind in section["indicators"]:
            r += 1
            for col, text in enumerate(
                (section["title"], ind["name"], ind["key"], ind["unit"], ind["definition"]),
                start=1,
            ):
                ws.cell(r, col, text).alignment = Alignment(wrap_text=True, vertical="top")
    for col, w in enumerate((12, 14, 20, 6, 80), start=1):
        ws.column_dimensions[get_column_letter(col)].width = w
    ws.print_title_rows = "3:3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


# --- HTML ------------------------------------------------------------------------------------------------

_env = Environment(
    loader=PackageLoader("cityops.web", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TREND_SUBJECTS = (SubjectType.department, SubjectType.district, SubjectType.street)


def echarts_js() -> str:
    return (files("cityops.web") / "static" / "vendor" / "echarts" / "echarts.min.js").read_text(
        encoding="utf-8"
    )


def html_extras(
    session: Session,
    period: EvaluationPeriod,
    subjects: Sequence[SubjectType],
    *,
    scheme: Scheme,
    trend_periods: int = 6,
    now: datetime | None = None,
    cases: Mapping[str, Mapping[str, Mapping[str, list[int]]]] | None = None,
) -> dict[str, Any]:
    """What the page needs beyond the evaluation: trend lines over the last periods, district
    outlines (GeoJSON, simplified) for the heat map, and optionally the case lists themselves
    (``{subject: {id: {figure: [case ids]}}}``) so the page drills down offline."""
    extras: dict[str, Any] = {}
    wanted = [s for s in TREND_SUBJECTS if s in subjects]
    if wanted and trend_periods > 1:
        extras["trend"] = svc.trend(session, period, wanted, trend_periods, scheme=scheme, now=now)
    if SubjectType.district in subjects:
        features = []
        for code, name, wkb in session.execute(
            select(Region.code, Region.name, Region.geometry).where(Region.level == "district")
        ):
            if wkb is None:
                continue
            geom = shapely.simplify(shapely.from_wkb(wkb), 0.0005, preserve_topology=True)
            features.append(
                {
                    "type": "Feature",
                    "properties": {"name": code, "label": name},
                    "geometry": mapping(geom),
                }
            )
        if features:
            extras["districts"] = {"type": "FeatureCollection", "features": features}
    if cases is not None:
        ids = sorted(
            {i for per in cases.values() for f in per.values() for lst in f.values() for i in lst}
        )
        numbers: dict[int, str] = {}
        for k in range(0, len(ids), 900):
            chunk = ids[k : k + 900]
            numbers.update(
                {
                    i: n
                    for i, n in session.execute(
                        select(Case.id, Case.number).where(Case.id.in_(chunk))
                    )
                }
            )
        extras["cases"] = {
            subject: {
                ident: {fig: [numbers.get(i, str(i)) for i in lst] for fig, lst in figs.items()}
                for ident, figs in per.items()
            }
            for subject, per in cases.items()
        }
    return extras


def to_html(doc: Mapping[str, Any], extras: Mapping[str, Any], *, api_base: str | None) -> str:
    """The standalone page: ECharts inlined, data embedded, print CSS for A4 landscape.

    ``api_base``: where drill-down links point ("" = the same server, None = no server: only the
    embedded case lists, if any)."""
    template = _env.get_template("reports/evaluation.html.j2")
    return template.render(
        doc=doc,
        extras=extras,
        api_base=api_base,
        links=api_base is not None,
        echarts=echarts_js(),
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        grade_colours={k: f"#{v}" for k, v in GRADE_COLOURS.items()},
        mode_labels=MODE_LABELS,
        drill_url=drill_url,
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
    )
