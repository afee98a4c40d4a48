"""`cityops city …`, `cityops grids …` and `cityops locate`: building and querying geography."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cityops.cli import app, console, ctx, say

city_app = typer.Typer(
    help="Cities: districts, streets, communities, grids. / 城市与区划", no_args_is_help=True
)
grids_app = typer.Typer(
    help="Unit grids and responsibility grids. / 单元网格与责任网格", no_args_is_help=True
)
app.add_typer(city_app, name="city")
app.add_typer(grids_app, name="grids")


@city_app.command("init")
def city_init(
    adcode: Annotated[str, typer.Argument(help="GB/T 2260 city code, e.g. 410200 (Kaifeng)")],
    districts: Annotated[
        str | None,
        typer.Option(help="Comma list of district codes the platform covers (default: all)"),
    ] = None,
    boundaries: Annotated[
        Path | None,
        typer.Option(help="District boundaries (GeoJSON or Shapefile) instead of shipped"),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(help="CRS of the given files: wgs84 (default), cgcs2000, gcj02, bd09"),
    ] = None,
    streets: Annotated[
        Path | None, typer.Option(help="Real streets (9-digit codes) instead of synthetic ones")
    ] = None,
    communities: Annotated[
        Path | None, typer.Option(help="Real communities (12-digit codes); needs --streets")
    ] = None,
    grid_size: Annotated[float, typer.Option(help="Unit grid edge in metres")] = 100.0,
    street_km2: Annotated[float, typer.Option(help="Synthetic street size, km²")] = 5.0,
    community_km2: Annotated[float, typer.Option(help="Synthetic community size, km²")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic partition")] = 1,
) -> None:
    """Build a city: districts, streets, communities, unit grids, responsibility grids."""
    from cityops.services.geography import GridSettings, init_city

    if grid_size < 10 or grid_size > 2000:
        raise typer.BadParameter("--grid-size must be between 10 and 2000 metres")
    if not (0.05 <= community_km2 <= street_km2 <= 500):
        raise typer.BadParameter("need 0.05 ≤ --community-km2 ≤ --street-km2 ≤ 500")
    wanted = [c.strip() for c in districts.split(",") if c.strip()] if districts else None
    started = time.perf_counter()
    with ctx.session() as s:
        report = init_city(
            s,
            adcode,
            districts=wanted,
            boundaries=boundaries,
            crs=crs,
            streets_file=streets,
            communities_file=communities,
            settings=GridSettings(grid_size, street_km2, community_km2, seed=seed),
        )
    took = time.perf_counter() - started
    table = Table(title=f"{report.name} ({report.code})")
    for col in (
        "区县 district",
        "面积 km²",
        "街道 streets",
        "社区 communities",
        "网格 grids",
        "来源",
    ):
        table.add_column(col)
    for d in report.districts:
        source = say("模拟", "synthetic") if d.synthetic else say("导入", "imported")
        table.add_row(
            f"{d.code} {d.name}",
            f"{d.area_km2:.1f}",
            str(d.streets),
            str(d.communities),
            str(d.grids),
            source,
        )
    console.print(table)
    console.print(
        say(
            f"共 {len(report.districts)} 个区县、{report.streets} 个街道、{report.communities} 个社区、"
            f"{report.grids} 个单元网格，用时 {took:.1f} 秒",
            f"{len(report.districts)} districts, {report.streets} streets, "
            f"{report.communities} communities, {report.grids} unit grids in {took:.1f} s",
        )
    )


@app.command("locate")
def locate_cmd(
    lon: Annotated[float, typer.Argument(help="Longitude")],
    lat: Annotated[float, typer.Argument(help="Latitude")],
    crs: Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02 or bd09")] = "wgs84",
) -> None:
    """Which grid, community, street and district a position lies in."""
    from cityops.services.geography import locate

    with ctx.session() as s:
        found = locate(s, lon, lat, crs)
    loc = found.location
    console.print(f"{say('单元网格', 'grid')}: {loc.grid}")
    console.print(f"{say('社区', 'community')}: {loc.community} {found.names['community']}")
    console.print(f"{say('街道', 'street')}: {loc.street} {found.names['street']}")
    console.print(f"{say('区县', 'district')}: {loc.district} {found.names['district']}")
    console.print(f"WGS-84: {loc.lon:.6f}, {loc.lat:.6f}")


@grids_app.command("export")
def grids_export(
    path: Annotated[Path, typer.Argument(help="GeoJSON file to write")],
    region: Annotated[str, typer.Option(help="Only grids under this region code")] = "",
) -> None:
    """Export unit grids as GeoJSON (WGS-84)."""
    from cityops.services.geography import export_grids

    with ctx.session() as s:
        n = export_grids(s, path, region)
    console.print(say(f"已导出 {n} 个单元网格到 {path}", f"exported {n} unit grids to {path}"))


@grids_app.command("import")
def grids_import(
    path: Annotated[Path, typer.Argument(help="GeoJSON or Shapefile with 15-character codes")],
    crs: Annotated[str | None, typer.Option(help="CRS of the file (default wgs84)")] = None,
) -> None:
    """Replace the grids of the communities in the file (all or nothing)."""
    from cityops.services.geography import import_grids

    with ctx.session() as s:
        n = import_grids(s, path, crs)
    console.print(say(f"已导入 {n} 个单元网格", f"imported {n} unit grids"))


@grids_app.command("responsibility")
def grids_responsibility(
    region: Annotated[str, typer.Option(help="Only under this region code")] = "",
) -> None:
    """List responsibility grids (责任网格) with their supervisors."""
    from cityops.services.mapdata import responsibility_grid_summaries

    with ctx.session() as s:
        rows = responsibility_grid_summaries(s, region or None)
    table = Table(title=say(f"{len(rows)} 个责任网格", f"{len(rows)} responsibility grids"))
    for col in ("编码 code", "名称 name", "监督员 supervisor", "单元网格数 grids"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.code, r.name, r.supervisor or "", str(r.grids))
    console.print(table)


@grids_app.command("assign")
def grids_assign(
    code: Annotated[str, typer.Argument(help="Responsibility grid code, e.g. R410204001001")],
    supervisor: Annotated[
        str | None, typer.Option(help="User name of a supervisor; omit to unassign")
    ] = None,
) -> None:
    """Assign a responsibility grid to a supervisor (an active user with the supervisor role)."""
    from cityops.services.mapdata import set_supervisor

    with ctx.session() as s:
        set_supervisor(s, code, supervisor)
    console.print(say(f"{code} → {supervisor or '（无）'}", f"{code} → {supervisor or '(none)'}"))
