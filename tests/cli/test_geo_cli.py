"""`cityops city init`, `locate` and `grids` as a user runs them, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import Cli, cli  # noqa: F401  (the parametrised fixture)


def test_city_init_reports_numbers_and_locate_answers(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.ok("db", "upgrade")
    out = cli.ok("city", "init", "410200", "--districts", "410204", "--grid-size", "250")
    assert "410204 鼓楼区" in out
    assert "1 个区县" in out and "个单元网格" in out

    found = cli.ok("locate", "114.3490", "34.7930", "--crs", "gcj02")
    assert "410204 鼓楼区" in found
    grid = found.split("单元网格:")[1].split()[0]
    assert len(grid) == 15 and grid.startswith("410204")

    assert "outside_city" in cli.fails("locate", "116.397", "39.909")
    assert "unknown_crs" in cli.fails("locate", "114.349", "34.793", "--crs", "mars")
    assert "unknown_district" in cli.fails("city", "init", "410200", "--districts", "410299")
    assert "unknown_city" in cli.fails("city", "init", "110100")

    export = tmp_path / "g.geojson"
    cli.ok("grids", "export", str(export), "--region", grid[:12])
    assert json.loads(export.read_text("utf-8"))["features"][0]["properties"]["code"].startswith(
        grid[:12]
    )
    listing = cli.ok("grids", "responsibility", "--region", "410204")
    assert f"R{grid[:12]}" in listing
    cli.ok("users", "add", "zhang.wei", "-r", "supervisor", "--password", "Patrol-Grid-2026")
    cli.ok("users", "add", "li.na", "-r", "acceptor", "--password", "Desk-Shift-2026")
    cli.ok("grids", "assign", f"R{grid[:12]}", "--supervisor", "zhang.wei")
    assert "zhang.wei" in cli.ok("grids", "responsibility", "--region", grid[:12])
    assert "not_a_supervisor" in cli.fails(
        "grids", "assign", f"R{grid[:12]}", "--supervisor", "li.na"
    )
    assert "unknown_responsibility_grid" in cli.fails(
        "grids", "assign", "R000", "--supervisor", "zhang.wei"
    )


def test_bad_boundaries_file_is_reported_per_feature(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.ok("db", "upgrade")
    bad = tmp_path / "b.geojson"
    bad.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"adcode": "410204", "name": "鼓楼区"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[34.78, 114.30], [34.78, 114.35], [34.80, 114.35], [34.78, 114.30]]
                            ],
                        },
                    },
                ],
            }
        ),
        "utf-8",
    )
    err = cli.fails("city", "init", "410200", "--boundaries", str(bad))
    assert "bad_boundaries" in err and "row 1 [geometry]" in err
    listing = cli.ok("region", "list")
    assert "0 个区域" in listing or "0 regions" in listing
