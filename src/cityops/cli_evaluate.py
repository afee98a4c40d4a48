"""`cityops evaluate …`: evaluate a period (JSON, Excel, HTML, a table), publish, snapshots, schemes."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cityops.cli import app as root_app
from cityops.cli import console, ctx, err_console, say
from cityops.core.errors import CityopsError

evaluate_app = typer.Typer(
    help="Evaluation: indicators, scores, grades and rankings from the case log. / 综合评价",
    invoke_without_command=True,
)
root_app.add_typer(evaluate_app, name="evaluate")

EMBED_LIMIT = 200_000  # case references embedded in an HTML report at most


class Format(StrEnum):
    json = "json"
    xlsx = "xlsx"
    html = "html"
    table = "table"


PeriodOpt = Annotated[
    str | None,
    typer.Option(help="2026-10 (month), 2026-Q4 (quarter), 2026 (year), 2026-10-01..2026-10-15"),
]
SubjectOpt = Annotated[
    str,
    typer.Option(
        help="department, district, street, community, grid, supervisor, acceptor, dispatcher, "
        "region (the four levels), all, or a comma list"
    ),
]
SchemeOpt = Annotated[
    str | None,
    typer.Option(
        help="Scheme: shipped name (default, kaifeng) or a TOML file; "
        "default $CITYOPS_EVALUATION_SCHEME or default"
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Evaluate as if it were this instant (ISO, Beijing time if no offset), "
        "for reproducible reports; default: now",
    ),
]


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CityopsError(
            f"无法识别的时间 {text}", en=f"cannot read the time {text}", code="bad_as_of"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(ctx.settings.timezone))


@evaluate_app.callback(invoke_without_command=True)
def evaluate(
    context: typer.Context,
    period: PeriodOpt = None,
    subject: SubjectOpt = "all",
    format: Annotated[Format, typer.Option("--format", "-f", help="json, xlsx, html or table")] = (
        Format.json
    ),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (json: default stdout)")
    ] = None,
    scheme: SchemeOpt = None,
    live: Annotated[bool, typer.Option(help="Recompute even when published")] = False,
    compare: Annotated[bool, typer.Option(help="Change against the previous period")] = True,
    trend: Annotated[int, typer.Option(help="Periods in the HTML trend lines (1 = none)")] = 6,
    base_url: Annotated[
        str | None,
        typer.Option(help="Link every figure to this server's drill-down, e.g. https://cg.example"),
    ] = None,
    embed_cases: Annotated[
        bool, typer.Option(help="HTML: embed the case lists so the file drills down offline")
    ] = True,
    as_of: AsOfOpt = None,
) -> None:
    """Evaluate PERIOD for SUBJECT and write the result.

    Examples: `cityops evaluate --period 2026-10 --subject department -f table`;
    `cityops evaluate --period 2026-10 -f xlsx -o 2026-10.xlsx`;
    `cityops evaluate --period 2026-Q3 --subject region -f html -o q3.html`.
    A published period is reported from its snapshot unless --live.
    """
    if context.invoked_subcommand is not None:
        return
    if period is None:
        console.print(context.get_help())
        raise typer.Exit(2)
    from cityops.core.evaluation import EvaluationPeriod, parse_subjects
    from cityops.services import evaluation as svc
    from cityops.services import reports

    p = EvaluationPeriod.parse(period)
    subjects = parse_subjects(subject)
    now = _as_of(as_of)
    with ctx.session() as s:
        sch = svc.load_scheme(scheme)
        want_cases = format is Format.html and embed_cases
        result = svc.evaluate(
            s, p, subjects, scheme=sch, now=now, live=live, compare=compare, with_cases=want_cases
        )
        doc = result.to_json()
        if format is Format.json:
            text = json.dumps(doc, ensure_ascii=False, indent=2)
            if out is None:
                typer.echo(text)
            else:
                out.write_text(text + "\n", encoding="utf-8")
        elif format is Format.table:
            _print_tables(doc)
        elif format is Format.xlsx:
            path = out or Path(f"evaluation-{p.key}.xlsx")
            path.write_bytes(reports.to_xlsx(doc, base_url=base_url))
        else:
            cases = None
            if want_cases:
                cases = {sec.subject.value: sec.cases or {} for sec in result.sections}
                total = sum(
                    len(lst) for per in cases.values() for f in per.values() for lst in f.values()
                )
                if total > EMBED_LIMIT:
                    err_console.print(
                        say(
                            f"案件清单共 {total:,} 条，超过 {EMBED_LIMIT:,}，未内嵌；"
                            "请用 --base-url 链接到平台",
                            f"{total:,} case references exceed {EMBED_LIMIT:,}: not embedded; "
                            "use --base-url to link to the platform",
                        )
                    )
                    cases = None
            extras = reports.html_extras(
                s, p, subjects, scheme=sch, trend_periods=trend, now=now, cases=cases
            )
            path = out or Path(f"evaluation-{p.key}.html")
            path.write_text(reports.to_html(doc, extras, api_base=base_url), encoding="utf-8")
    if format in (Format.xlsx, Format.html) or (format is Format.json and out is not None):
        written = out or Path(f"evaluation-{p.key}.{format.value}")
        err_console.print(say(f"已写入 {written}", f"written {written}"))


def _print_tables(doc: dict[str, object]) -> None:
    sections = doc["sections"]
    assert isinstance(sections, list)
    for section in sections:
        table = Table(title=f"{doc['label']} {section['title']}（{section['source']}）")
        for col in ("排名 rank", "名称 name", "得分 score", "等级 grade", "变化 change"):
            table.add_column(col)
        key = section["components"][0]["indicator"] if section["components"] else None
        if key:
            table.add_column(key)
        for row in section["rows"]:
            change = (row.get("change") or {}).get("score")
            fig = row["figures"].get(key) if key else None
            shown = (
                f"{fig['value']:.2%}" if isinstance(fig, dict) and fig["value"] is not None else fig
            )
            table.add_row(
                str(row["rank"] or "—"),
                row["name"],
                f"{row['score']:.2f}" if row["score"] is not None else "—",
                row["grade"] or "",
                f"{change:+.2f}" if change is not None else "—",
                *([str(shown if shown is not None else "—")] if key else []),
            )
        console.print(table)


@evaluate_app.command("publish")
def publish(
    period: Annotated[str, typer.Option(help="A finished period, e.g. 2026-10")],
    subject: SubjectOpt = "all",
    scheme: SchemeOpt = None,
    replace: Annotated[
        bool,
        typer.Option(help="Recompute a published period; the old snapshot is kept, superseded"),
    ] = False,
    by: Annotated[str | None, typer.Option(help="User name of the evaluator publishing")] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Freeze the evaluation of a finished period with its scheme (one snapshot per subject)."""
    from cityops.core.evaluation import parse_subjects
    from cityops.services import evaluation as svc
    from cityops.services.users import get_user

    with ctx.session() as s:
        user = get_user(s, by) if by else None
        snaps = svc.publish(
            s,
            user,
            period,
            parse_subjects(subject),
            scheme=svc.load_scheme(scheme),
            now=_as_of(as_of),
            replace=replace,
        )
        infos = [svc.snapshot_info(x) for x in snaps]
    for i in infos:
        console.print(
            say(
                f"已发布 {i['period']} {i['subject']}：快照 {i['id']}，方案 {i['scheme']['name']} "
                f"({i['scheme']['version'][:12]})",
                f"published {i['period']} {i['subject']}: snapshot {i['id']}, scheme "
                f"{i['scheme']['name']} ({i['scheme']['version'][:12]})",
            )
        )


@evaluate_app.command("snapshots")
def snapshots(
    period: Annotated[str | None, typer.Option(help="Only this period")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include superseded snapshots")] = False,
) -> None:
    """List published evaluations."""
    from cityops.services import evaluation as svc

    with ctx.session() as s:
        rows = [
            svc.snapshot_info(x) for x in svc.list_snapshots(s, period, include_superseded=all_)
        ]
    table = Table(title=say(f"考评快照 {len(rows)} 个", f"{len(rows)} snapshots"))
    for col in ("id", "期间 period", "对象 subject", "方案 scheme", "发布 published", "被取代 by"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["period"],
            r["subject"],
            f"{r['scheme']['name']} {r['scheme']['version'][:12]}",
            r["published_at"][:16],
            str(r["superseded_by"] or ""),
        )
    console.print(table)


@evaluate_app.command("schemes")
def schemes() -> None:
    """The shipped evaluation schemes."""
    from cityops.services import evaluation as svc

    table = Table(title=say("内置考评方案", "Shipped evaluation schemes"))
    for col in ("name", "标题 title", "版本 version", "hash"):
        table.add_column(col)
    for name in svc.shipped_schemes():
        sch = svc.load_scheme(name)
        table.add_row(name, sch.title, sch.label, sch.version[:12])
    console.print(table)


@evaluate_app.command("check-scheme")
def check_scheme(file: Annotated[Path, typer.Argument(help="A scheme TOML file")]) -> None:
    """Validate a scheme file: every problem with its place, or OK with its version hash."""
    from cityops.services import evaluation as svc

    sch = svc.load_scheme(file)
    console.print(
        say(
            f"方案 {sch.name} 有效：{sch.title}，版本 {sch.version[:12]}",
            f"scheme {sch.name} is valid: {sch.title}, version {sch.version[:12]}",
        )
    )
