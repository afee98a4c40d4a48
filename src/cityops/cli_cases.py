"""`cityops standards|rules|calendar|audit|cases …`: the case loop's configuration and checks."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cityops.cli import app, console, ctx, err_console, say

standards_app = typer.Typer(help="Case standards (立结案标准). / 立结案标准", no_args_is_help=True)
rules_app = typer.Typer(help="Dispatch rules (权责清单). / 权责清单", no_args_is_help=True)
calendar_app = typer.Typer(help="Working calendar additions. / 工作日历", no_args_is_help=True)
audit_app = typer.Typer(help="Tamper checks of the case log. / 审计", no_args_is_help=True)
cases_app = typer.Typer(help="Cases: show, overdue sweep. / 案件", no_args_is_help=True)
app.add_typer(standards_app, name="standards")
app.add_typer(rules_app, name="rules")
app.add_typer(calendar_app, name="calendar")
app.add_typer(audit_app, name="audit")
app.add_typer(cases_app, name="cases")


@standards_app.command("import")
def standards_import(
    path: Annotated[
        Path, typer.Argument(help="CSV or XLSX: 大类代码|大类名称|小类代码|…|处置时限")
    ],
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Import the good rows")] = False,
) -> None:
    """Import case standards; replaces the conditions of every type in the file."""
    from cityops.services.rules import import_standards

    with ctx.session() as s:
        report = import_standards(s, path, skip_bad=skip_bad)
    console.print(
        say(f"已导入 {report.imported} 条立案条件", f"imported {report.imported} conditions")
    )
    for e in report.skipped:
        err_console.print(f"  row {e.row} [{e.column or '-'}]: {e.message}", markup=False)


@standards_app.command("export")
def standards_export(path: Annotated[Path, typer.Argument(help="CSV or XLSX to write")]) -> None:
    """Export case standards in the import layout."""
    from cityops.services.rules import export_standards

    with ctx.session() as s:
        n = export_standards(s, path)
    console.print(say(f"已导出 {n} 条立案条件到 {path}", f"exported {n} conditions to {path}"))


@standards_app.command("list")
def standards_list(type_code: Annotated[str, typer.Argument(help="Matter type code")]) -> None:
    """The conditions of one type, with time limits."""
    from cityops.services.rules import conditions_of

    with ctx.session() as s:
        rows = conditions_of(s, type_code)
        table = Table(title=type_code)
        for col in ("序号 seq", "立案条件 condition", "结案条件 closing", "时限 limit"):
            table.add_column(col)
        for r in rows:
            table.add_row(str(r.seq), r.condition, r.closing_condition, r.time_limit)
    console.print(table)


@rules_app.command("import")
def rules_import(
    path: Annotated[
        Path, typer.Argument(help="CSV or XLSX: 类型代码|区域|部件权属|责任部门|自动派遣|备注")
    ],
    append: Annotated[bool, typer.Option("--append", help="Keep existing rules")] = False,
) -> None:
    """Import dispatch rules; the whole set is checked for conflicts before anything is saved."""
    from cityops.services.rules import import_rules

    with ctx.session() as s:
        n = import_rules(s, path, replace=not append)
    console.print(say(f"已导入 {n} 条派遣规则", f"imported {n} dispatch rules"))


@rules_app.command("export")
def rules_export(path: Annotated[Path, typer.Argument(help="CSV or XLSX to write")]) -> None:
    """Export dispatch rules in the import layout."""
    from cityops.services.rules import export_rules

    with ctx.session() as s:
        n = export_rules(s, path)
    console.print(say(f"已导出 {n} 条派遣规则到 {path}", f"exported {n} rules to {path}"))


@rules_app.command("suggest")
def rules_suggest(
    type_code: Annotated[str, typer.Argument(help="Matter type code, e.g. 06010")],
    area: Annotated[str, typer.Argument(help="Grid or region code of the case")],
) -> None:
    """Which department the rules suggest for a type at a place, and why."""
    from cityops.services.rules import rule_set

    with ctx.session() as s:
        sug = rule_set(s).resolve(type_code, type_code[:2], area)
    console.print(
        f"{sug.department or say('（无建议）', '(none)')}  {say(sug.reason, sug.reason_en)}"
    )
    if sug.auto_dispatch:
        console.print(say("自动派遣", "auto-dispatch"))


@calendar_app.command("set")
def calendar_set(
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    kind: Annotated[str, typer.Argument(help="holiday, workday or clear")],
    note: Annotated[str, typer.Option(help="e.g. 2027 春节")] = "",
) -> None:
    """Add a holiday or make-up working day (or clear the admin's entry for a date)."""
    from cityops.core.errors import ValidationFailed
    from cityops.services.calendar import set_day

    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise ValidationFailed(
            f"日期格式应为 YYYY-MM-DD：{day}",
            en=f"date must be YYYY-MM-DD: {day}",
            code="bad_date",
        ) from None
    with ctx.session() as s:
        set_day(s, d, None if kind == "clear" else kind, note)
    console.print(f"{d}: {kind}")


@calendar_app.command("show")
def calendar_show(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
) -> None:
    """Working days and hours of a month as the deadlines will count them."""
    from cityops.services.calendar import city_clock

    year, mon = (int(x) for x in month.split("-"))
    with ctx.session() as s:
        clock = city_clock(s)
    from cityops.core.holidays import statutory_holidays

    provisional = clock.is_provisional(date(year, mon, 1))
    named = statutory_holidays(year) if provisional else {}
    table = Table(title=month)
    for col in ("日期 date", "星期", "上班 working", "时段 periods", "说明 note"):
        table.add_column(col)
    d = date(year, mon, 1)
    while d.month == mon:
        working = clock.is_working_day(d)
        periods = (
            ", ".join(f"{p.start:%H:%M}-{p.end:%H:%M}" for p in clock.periods_on(d))
            if working
            else ""
        )
        table.add_row(
            str(d),
            "一二三四五六日"[d.weekday()],
            "是" if working else "",
            periods,
            named.get(d, ""),
        )
        d = date.fromordinal(d.toordinal() + 1)
    console.print(table)
    if provisional:
        console.print(
            f"[yellow]{year} 年暂按法定节假日计算（未含国务院调休安排）：公布后请用 "
            f"`cityops calendar set` 录入并把 {year} 加入 covered_years。\n"
            f"{year} counts the statutory holidays only (no make-up working days yet): enter "
            f"the State Council's notice with `cityops calendar set` and add {year} to "
            "covered_years.[/yellow]"
        )


@audit_app.command("verify")
def audit_verify(
    case: Annotated[str | None, typer.Option(help="One case (id or number)")] = None,
) -> None:
    """Re-hash every case log and replay it against the stored case; exit 1 on any mismatch."""
    from cityops.core.errors import CityopsError
    from cityops.services.cases import get_case, verify_all, verify_case

    with ctx.session() as s:
        if case:
            checked, problems = 1, verify_case(s, get_case(s, case).id)
        else:
            checked, problems = verify_all(s)
    if problems:
        for p in problems[:100]:
            err_console.print(f"  case {p.case_id} seq {p.seq or '-'}: {p.problem}", markup=False)
        raise CityopsError(
            f"审计发现 {len(problems)} 处问题（共检查 {checked} 个案件）",
            en=f"audit found {len(problems)} problem(s) in {checked} cases",
            code="audit_failed",
        )
    console.print(
        say(f"已检查 {checked} 个案件，日志完整", f"{checked} cases checked, every log intact")
    )


@cases_app.command("sweep")
def cases_sweep() -> None:
    """Announce stages that just went overdue (run it every minute from cron or a timer)."""
    from cityops.services.cases import sweep_overdue

    with ctx.session() as s:
        r = sweep_overdue(s)
    console.print(
        say(
            f"检查 {r.open_stages} 个进行中的环节，新超期 {r.newly_overdue} 个",
            f"{r.open_stages} open stages checked, {r.newly_overdue} newly overdue",
        )
    )


@cases_app.command("show")
def cases_show(ref: Annotated[str, typer.Argument(help="Case id or number")]) -> None:
    """A case and its log."""
    from cityops.core.workflow import State
    from cityops.services.cases import get_case, log_of

    with ctx.session() as s:
        row = get_case(s, ref)
        console.print(
            f"{row.number}  {State(row.state).label_zh}  {row.type_code or ''} "
            f"{row.department or ''}  {row.grid_code or ''}"
        )
        table = Table()
        for col in ("#", "时间 at", "操作 action", "角色 role", "从 from", "到 to", "原因/说明"):
            table.add_column(col)
        for r in log_of(s, row.id):
            e = json.loads(r.entry)
            table.add_row(
                str(r.seq),
                f"{r.at:%Y-%m-%d %H:%M}",
                r.action,
                r.actor_role,
                r.from_state or "",
                r.to_state,
                e["reason"] or e["note"],
            )
    console.print(table)
