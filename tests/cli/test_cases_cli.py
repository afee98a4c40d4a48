"""Case-loop configuration and checks from the command line, on both databases."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import update
from tests.cli.test_cli import Cli, cli  # noqa: F401  (the parametrised fixture)

from cityops.services import cases
from cityops.services.users import add_user
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.schema import CaseLogRow

DATA = files("cityops.data")


def test_standards_rules_calendar_and_audit(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.ok("db", "upgrade")
    cli.ok("catalog", "list", "--major", "06")  # loads the standard catalog
    cli.ok("city", "init", "410200", "--districts", "410204", "--grid-size", "500")
    out = cli.ok("standards", "import", str(DATA / "standards" / "default_standards.csv"))
    assert "26" in out  # the 26 condition rows of the shipped file
    listing = cli.ok("standards", "list", "06001")
    assert "20工作日" in listing and "违法建设需拆除" in listing
    exported = tmp_path / "std.xlsx"
    cli.ok("standards", "export", str(exported))
    assert exported.stat().st_size > 0

    # The demo rules name departments that do not exist yet: refused, nothing saved.
    err = cli.fails("rules", "import", str(DATA / "demo" / "kaifeng_rules.csv"))
    assert "KF-HW" in err
    cli.ok("org", "add", "KF-CENTRE", "指挥中心", "--kind", "centre")
    for code in ("KF-SZ", "KF-HW", "KF-ZF", "KF-GL", "KF-YL", "KF-LD"):
        cli.ok("org", "add", code, code, "--kind", "department", "--parent", "KF-CENTRE")
    assert "16" in cli.ok("rules", "import", str(DATA / "demo" / "kaifeng_rules.csv"))
    suggestion = cli.ok("rules", "suggest", "06010", "410204001001001")
    assert "KF-HW" in suggestion  # type-first: 06010 city-wide beats 06 in 鼓楼区
    assert "KF-GL" in cli.ok("rules", "suggest", "06025", "410204001001001")  # 06 in 鼓楼区

    assert "bad_date" in cli.fails("calendar", "set", "2027-02-30", "holiday")
    cli.ok("calendar", "set", "2026-12-31", "holiday", "--note", "测试")
    december = cli.ok("calendar", "show", "2026-12")
    assert "2026-12-30 │ 三   │ 是" in december and "2026-12-31 │ 四   │    " in december
    february = cli.ok("calendar", "show", "2027-02")  # beyond chinesecalendar 1.11.0
    assert "2027-02-10 │ 三   │" in february and "春节（补假）" in february
    assert "covered_years" in february  # says the year is provisional

    # A case written through the services, then the audit from the CLI.
    engine = make_engine(cli.env["CITYOPS_DATABASE_URL"])
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        user = add_user(s, "jiandu", "Grid-Work-2026", ["supervisor"])
        created = cases.create_case(
            s,
            user,
            cases.NewCase(
                source="patrol",
                type_code="06010",
                description="暴露垃圾",
                lon=114.3490,
                lat=34.7930,
                crs="gcj02",
            ),
            now=datetime(2026, 11, 24, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
        )
        number = created.case.number
    assert "1" in cli.ok("audit", "verify")
    assert number in cli.ok("cases", "show", number)
    with transaction(sessions) as s:
        s.execute(update(CaseLogRow).values(actor_role="acceptor"))
    err = cli.fails("audit", "verify")
    assert "audit_failed" in err
    engine.dispose()
