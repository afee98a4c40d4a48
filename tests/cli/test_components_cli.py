"""`cityops components …` as a user runs it, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import Cli, cli  # noqa: F401  (the parametrised fixture)

SURVEY = """部件类型代码,经度,纬度,名称,主管部门,养护单位,状态,安装日期,普查日期,外部编号
01001,114.32634,34.78855,供水井盖,KF-SZ,开封水务养护公司,完好,2019-05-01,2024-03-12,S-0001
01001,114.3301,34.7902,供水井盖,市政工程管理处,开封水务养护公司,破损,2019/05/01,2024-03-12,S-0002
01005,114.3350,34.7850,电力井盖,,供电公司,丢失,,2024-03-12,S-0003
"""
BAD = """type_code,lon,lat,status,external_id
01001,114.3301,34.7902,完好,B-1
01001,116.40,39.90,完好,B-2
06010,114.3301,34.7902,完好,B-3
01001,114.3301,34.7902,坏了,B-4
"""


def test_components_import_stats_status_export(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.ok("db", "upgrade")
    cli.ok("city", "init", "410200", "--districts", "410204", "--grid-size", "250")
    survey = tmp_path / "survey.csv"
    survey.write_text(SURVEY, "gbk")

    assert "新增 3 个" in cli.ok("components", "import", str(survey))

    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, "utf-8")
    err = cli.fails("components", "import", str(bad))
    assert "import_rejected" in err
    assert "row 3 [lon/lat]" in err and "row 4 [type_code]" in err and "row 5 [status]" in err

    stats = cli.ok("components", "stats", "--by", "type")
    assert "部件 3 个" in stats and "供水井盖" in stats and "电力井盖" in stats

    cid = "41020401001000001"
    assert "破损 (damaged)" in cli.ok(
        "components", "set-status", cid, "破损", "--reason", "巡查发现井盖破裂"
    )
    history = cli.ok("components", "history", cid)
    assert "巡查发现井盖破裂" in history and "完好" in history and "cli" in history

    out = tmp_path / "out.geojson"  # CSV and XLSX round trips: tests/integration
    assert "已导出 3 个部件" in cli.ok("components", "export", str(out))
    assert "未变 3 个" in cli.ok("components", "import", str(out))  # re-import is idempotent
    features = json.loads(out.read_text("utf-8"))["features"]
    assert sorted(f["properties"]["status"] for f in features) == ["damaged", "damaged", "lost"]
