"""`cityops components …`: the component inventory (部件) — import, export, stats, status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from cityops.cli import app, console, ctx, err_console, say

components_app = typer.Typer(
    help="The component inventory: import, export, statistics, status. / 部件", no_args_is_help=True
)
app.add_typer(components_app, name="components")


@components_app.command("import")
def components_import(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8/GBK), XLSX or GeoJSON (Point features)")],
    crs: Annotated[str, typer.Option(help="CRS of the positions: wgs84, cgcs2000, gcj02, bd09")] = (
        "wgs84"
    ),
    skip_bad: Annotated[bool, typer.Option(help="Import the good rows, report the bad")] = False,
) -> None:
    """Import or update components; ids and grids are assigned from the positions.

    Columns (English or Chinese headers): type_code/部件类型代码, lon/经度, lat/纬度, name/名称,
    owner_department/主管部门, maintenance_unit/养护单位, status/状态 (完好 破损 丢失 废弃 移除),
    installed_on/安装日期, surveyed_on/普查日期, external_id/外部编号, id/部件编号. A row with a
    known id or external_id updates that component (blank cells keep the stored values). Any bad
    row rejects the whole file unless --skip-bad.
    """
    from cityops.services.catalog import ensure_standard_catalog
    from cityops.services.components import import_components

    started = time.perf_counter()
    with ctx.session() as s:
        ensure_standard_catalog(s)
        report = import_components(s, file, crs=crs, skip_bad=skip_bad)
    took = time.perf_counter() - started
    console.print(
        say(
            f"新增 {report.added} 个，更新 {report.updated} 个，未变 {report.unchanged} 个，"
            f"跳过 {report.skipped_rows} 行；状态记录 {report.status_changes} 条，"
            f"用时 {took:.1f} 秒",
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
            f"skipped {report.skipped_rows} row(s); {report.status_changes} status records "
            f"in {took:.1f} s",
        )
    )
    if report.unkeyed:
        console.print(
            say(
                f"提示：{report.unkeyed} 个新部件的行既无部件编号也无外部编号，"
                "再次导入同一文件会重复新增",
                f"note: {report.unkeyed} new component row(s) had neither id nor external_id; "
                "importing the same file again adds them again",
            )
        )
    for e in report.skipped:
        err_console.print(f"  row {e.row} [{e.column or '-'}]: {e.message}", markup=False)


@components_app.command("export")
def components_export(
    file: Annotated[Path, typer.Argument(help="Output .csv, .xlsx or .geojson")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, xlsx or geojson (default: from suffix)")
    ] = None,
    crs: Annotated[str, typer.Option(help="CRS of the written positions")] = "wgs84",
    region: Annotated[str, typer.Option(help="Only components under this region code")] = "",
) -> None:
    """Export components in the form `components import` reads back."""
    from cityops.services.components import export_components

    with ctx.session() as s:
        n = export_components(s, file, fmt, crs=crs, region=region)
    console.print(say(f"已导出 {n} 个部件到 {file}", f"exported {n} components to {file}"))


@components_app.command("stats")
def components_stats(
    by: Annotated[
        str, typer.Option(help="district, street, community, grid, type or status")
    ] = "district",
) -> None:
    """Count components per district, type, status… split by status."""
    from cityops.services.components import STATUS_LABELS, component_stats

    with ctx.session() as s:
        rows = component_stats(s, by)
    total = sum(r.total for r in rows)
    table = Table(title=say(f"部件 {total} 个（按 {by}）", f"{total} components by {by}"))
    table.add_column(by)
    table.add_column("名称 name")
    table.add_column("合计 total", justify="right")
    for status, label in STATUS_LABELS.items():
        table.add_column(f"{label} {status}", justify="right")
    for r in rows:
        table.add_row(r.key, r.name, str(r.total), *(str(r.by_status[s]) for s in STATUS_LABELS))
    console.print(table)


@components_app.command("set-status")
def components_set_status(
    component_id: Annotated[str, typer.Argument(metavar="ID", help="17-digit component id")],
    status: Annotated[str, typer.Argument(help="完好 破损 丢失 废弃 移除 or the English id")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history)")],
) -> None:
    """Change a component's status; the change is kept in its history."""
    from cityops.services.components import STATUS_LABELS, get_component, set_status

    with ctx.session() as s:
        before = get_component(s, component_id).status
        c = set_status(s, component_id, status, reason, source="cli")
        same = say("（未变）", " (unchanged)") if c.status == before else ""
        console.print(f"{c.id}: {STATUS_LABELS[c.status]} ({c.status}){same}")


@components_app.command("history")
def components_history(
    component_id: Annotated[str, typer.Argument(metavar="ID", help="17-digit component id")],
) -> None:
    """Show a component and the history of its status."""
    from cityops.services.components import STATUS_LABELS, component_history, get_component

    with ctx.session() as s:
        c = get_component(s, component_id)
        changes = component_history(s, component_id)
        console.print(
            f"{c.id} {c.type_code} {c.name} — {say('网格', 'grid')} {c.grid_code}, "
            f"{STATUS_LABELS[c.status]} ({c.status}), {c.lon:.6f}, {c.lat:.6f}",
            markup=False,
        )
        tz = ZoneInfo(ctx.settings.timezone)
        table = Table()
        for col in (
            f"时间 at ({tz.key})",
            "原状态 from",
            "新状态 to",
            "原因 reason",
            "来源 source",
        ):
            table.add_column(col)
        for h in changes:
            table.add_row(
                h.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                STATUS_LABELS.get(h.from_status, "") if h.from_status else "",
                STATUS_LABELS.get(h.to_status, h.to_status),
                h.reason,
                h.source,
            )
    console.print(table)
