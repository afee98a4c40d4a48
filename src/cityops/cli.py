"""The `cityops` command line. Each command is one transaction: it all happens or none of it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityops.core.catalog import Kind
from cityops.core.errors import CityopsError
from cityops.services import cityconfig
from cityops.settings import Settings, get_settings
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.migrate import current_revision, head_revision

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    help="cityops — 城市运行管理服务平台 / city operation management and service platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(
    help="Database schema migrations (Alembic). / 数据库迁移", no_args_is_help=True
)
catalog_app = typer.Typer(
    help="The problem catalog (GB/T 47678.5) and local types. / 部件和事项目录",
    no_args_is_help=True,
)
users_app = typer.Typer(help="Staff accounts. / 用户", no_args_is_help=True)
org_app = typer.Typer(help="Organisation units. / 组织单位", no_args_is_help=True)
region_app = typer.Typer(help="Administrative regions. / 行政区域", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(users_app, name="users")
app.add_typer(org_app, name="org")
app.add_typer(region_app, name="region")


class CliContext:
    """Settings and engine, made once per invocation."""

    def __init__(self) -> None:
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.effective_database_url)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction on a database whose schema is current."""
        if current_revision(self.engine) != head_revision(self.engine):
            raise CityopsError(
                "数据库结构不是最新版本，请先运行 cityops db upgrade",
                en="the database schema is not up to date; run `cityops db upgrade` first",
                code="schema_outdated",
            )
        cityconfig.configure(self.settings.city_config)
        with transaction(session_factory(self.engine)) as s:
            yield s


ctx = CliContext()


def _locale() -> str:
    try:
        return ctx.settings.locale
    except ValidationError:
        return "zh-CN"


def say(zh: str, en: str) -> str:
    return en if _locale() == "en" else zh


# --- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from cityops.store.migrate import upgrade

    upgrade(ctx.engine, revision)
    console.print(say("数据库已升级到", "database at revision"), current_revision(ctx.engine))


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base")) -> None:
    """Revert migrations down to REVISION."""
    from cityops.store.migrate import downgrade

    downgrade(ctx.engine, revision)
    console.print(say("数据库已降级到", "database at revision"), current_revision(ctx.engine))


@db_app.command("current")
def db_current() -> None:
    """Show the database URL's dialect and its schema revision."""
    rev = current_revision(ctx.engine)
    console.print(
        f"{ctx.engine.dialect.name}: {rev or '(empty)'} (head {head_revision(ctx.engine)})"
    )


# --- catalog ----------------------------------------------------------------------------------


@catalog_app.command("list")
def catalog_list(
    kind: Annotated[Kind | None, typer.Option(help="component (部件) or matter (事项)")] = None,
    major: Annotated[str | None, typer.Option(help="2-digit major class, e.g. 06")] = None,
    public: Annotated[bool | None, typer.Option("--public/--not-public")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    search: Annotated[str | None, typer.Option(help="Text in name, display name, keywords")] = None,
) -> None:
    """List catalog types, filtered."""
    from cityops.services.catalog import ensure_standard_catalog, list_types

    with ctx.session() as s:
        ensure_standard_catalog(s)
        rows = list_types(s, kind=kind, major=major, public=public, enabled=enabled, text=search)
        table = Table(title=say(f"目录类型 {len(rows)} 个", f"{len(rows)} catalog types"))
        for col in (
            "代码 code",
            "类型 kind",
            "大类 major",
            "名称 name",
            "启用",
            "公众可报",
            "来源",
        ):
            table.add_column(col)
        for r in rows:
            name = r.name if not r.display_name else f"{r.display_name}（{r.name}）"
            table.add_row(
                r.code,
                Kind(r.kind).label_zh,
                f"{r.major_code} {r.major_name}",
                name,
                "是" if r.enabled else "否",
                "是" if r.public else "否",
                "标准" if r.origin == "standard" else "本地",
            )
    console.print(table)


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX with a header row")],
    skip_bad: Annotated[bool, typer.Option(help="Import the good rows, report the bad")] = False,
) -> None:
    """Import local types and overrides (display name, enabled, public, keywords).

    Columns (English or Chinese headers): code/代码, kind/类型, major_code/大类代码,
    major_name/大类名称, name/名称, display_name/显示名称, keywords/关键词, enabled/启用,
    public/公众可报. Any bad row rejects the whole file unless --skip-bad.
    """
    from cityops.services.catalog import ensure_standard_catalog, import_catalog

    with ctx.session() as s:
        ensure_standard_catalog(s)
        report = import_catalog(s, file, skip_bad=skip_bad)
    console.print(
        say(
            f"新增 {report.added} 个，更新 {report.updated} 个，跳过 {len(report.skipped)} 行",
            f"added {report.added}, updated {report.updated}, skipped {len(report.skipped)} rows",
        )
    )
    for e in report.skipped:
        err_console.print(f"  row {e.row} [{e.column or '-'}]: {e.message}", markup=False)


@catalog_app.command("export")
def catalog_export(
    file: Annotated[Path, typer.Argument(help="Output .csv or .xlsx")],
    local_only: Annotated[bool, typer.Option(help="Only the city's local types")] = False,
) -> None:
    """Export the catalog with the city's overrides."""
    from cityops.services.catalog import ensure_standard_catalog, export_catalog

    with ctx.session() as s:
        ensure_standard_catalog(s)
        n = export_catalog(s, file, origin="local" if local_only else None)
    console.print(say(f"已导出 {n} 个类型到 {file}", f"exported {n} types to {file}"))


@catalog_app.command("set")
def catalog_set(
    code: Annotated[str, typer.Argument(help="5-digit catalog code")],
    kind: Annotated[
        Kind | None, typer.Option(help="Needed when the code is both a component and a matter")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Display name; '' restores")] = None,
    keywords: Annotated[str | None, typer.Option()] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
    public: Annotated[bool | None, typer.Option("--public/--not-public")] = None,
) -> None:
    """Rename a type for display, enable/disable it, or mark whether the public may report it."""
    from cityops.services.catalog import ensure_standard_catalog, update_type

    with ctx.session() as s:
        ensure_standard_catalog(s)
        row = update_type(
            s,
            code,
            kind=kind,
            display_name=display_name,
            keywords=keywords,
            enabled=enabled,
            public=public,
        )
        console.print(
            f"{Kind(row.kind).label_zh} {row.code} {row.display_name or row.name}: "
            f"enabled={row.enabled} public={row.public}"
        )


# --- users ------------------------------------------------------------------------------------


def _read_password(password: str | None, password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise CityopsError(
            "没有终端可输入密码：请用 --password 或 --password-stdin",
            en="no terminal to ask for a password: use --password or --password-stdin",
            code="password_required",
        )
    value: str = typer.prompt(say("密码", "Password"), hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[list[str], typer.Option("--role", "-r", help="Role id; repeat for several")],
    display_name: Annotated[str | None, typer.Option()] = None,
    org: Annotated[str | None, typer.Option(help="Organisation unit code")] = None,
    scope_region: Annotated[
        str | None, typer.Option(help="Region code limiting data scope")
    ] = None,
    scope_department: Annotated[
        str | None, typer.Option(help="Department code limiting data scope")
    ] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    password: Annotated[
        str | None, typer.Option(help="Prefer the prompt or --password-stdin")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
) -> None:
    """Add a user. Roles: supervisor acceptor shift_leader dispatcher department handler leader
    evaluator admin."""
    from cityops.services.users import add_user

    secret = _read_password(password, password_stdin)
    with ctx.session() as s:
        user = add_user(
            s,
            username,
            secret,
            role,
            display_name=display_name,
            org_code=org,
            scope_region=scope_region,
            scope_department=scope_department,
            phone=phone,
        )
        console.print(say("已添加用户", "added user"), user.username, ", ".join(user.role_names))


@users_app.command("list")
def users_list() -> None:
    """List users with roles, unit and data scope."""
    from cityops.services.users import list_users

    with ctx.session() as s:
        table = Table()
        for col in (
            "用户名 user",
            "姓名 name",
            "角色 roles",
            "单位 unit",
            "数据范围 scope",
            "状态",
        ):
            table.add_column(col)
        for u in list_users(s):
            scope = " / ".join(
                x
                for x in (
                    u.scope_region_code,
                    str(u.scope_org_unit_id) if u.scope_org_unit_id else None,
                )
                if x
            )
            table.add_row(
                u.username,
                u.display_name,
                ", ".join(u.role_names),
                u.org_unit.name if u.org_unit else "",
                scope or say("全部", "all"),
                "启用" if u.active else "停用",
            )
    console.print(table)


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument()],
    password: Annotated[
        str | None, typer.Option(help="Prefer the prompt or --password-stdin")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
) -> None:
    """Set a user's password; their existing sessions end."""
    from cityops.services.users import set_password

    secret = _read_password(password, password_stdin)
    with ctx.session() as s:
        set_password(s, username, secret)
    console.print(say(f"已修改 {username} 的密码", f"password of {username} changed"))


# --- org units and regions --------------------------------------------------------------------


@org_app.command("add")
def org_add(
    code: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    kind: Annotated[str, typer.Option(help="centre, department, district_office, street_office")],
    parent: Annotated[str | None, typer.Option(help="Parent unit code")] = None,
    region: Annotated[str | None, typer.Option(help="Region code the unit governs")] = None,
) -> None:
    """Add an organisation unit."""
    from cityops.services.orgs import add_org

    with ctx.session() as s:
        org = add_org(s, code, name, kind, parent_code=parent, region_code=region)
        console.print(say("已添加", "added"), org.code, org.name)


@org_app.command("list")
def org_list(kind: Annotated[str | None, typer.Option()] = None) -> None:
    """List organisation units."""
    from cityops.services.orgs import list_orgs

    with ctx.session() as s:
        table = Table()
        for col in ("编码 code", "名称 name", "类型 kind", "区域 region"):
            table.add_column(col)
        for o in list_orgs(s, kind):
            table.add_row(o.code, o.name, o.kind, o.region_code or "")
    console.print(table)


@region_app.command("list")
def region_list(
    level: Annotated[str | None, typer.Option(help="city, district, street, community")] = None,
    parent: Annotated[str | None, typer.Option(help="Parent region code")] = None,
) -> None:
    """List regions."""
    from cityops.services.regions import list_regions

    with ctx.session() as s:
        rows = list_regions(s, level=level, parent=parent)
        table = Table(title=say(f"{len(rows)} 个区域", f"{len(rows)} regions"))
        for col in ("代码 code", "级别 level", "名称 name", "面积 km²", "合成 synthetic"):
            table.add_column(col)
        for r in rows:
            area = "" if r.area_m2 is None else f"{r.area_m2 / 1e6:.1f}"
            table.add_row(r.code, r.level, r.name, area, "是" if r.synthetic else "")
    console.print(table)


# --- serve and demo ---------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default from settings: 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default from settings: 8000")] = None,
) -> None:
    """Serve the web API (OpenAPI at /docs)."""
    import uvicorn

    from cityops.api.app import create_app
    from cityops.api.server import uvicorn_options

    settings = ctx.settings
    with ctx.session():
        pass  # refuse to start on an outdated schema
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        **uvicorn_options(),
    )


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve when ready")
    ] = True,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="Simulate 30 days ending now")
    ] = True,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days simulated")] = 30,
    cases_per_day: Annotated[float, typer.Option(min=1, help="Mean reports a day")] = 150.0,
    seed: Annotated[int, typer.Option(help="Simulation seed")] = 1,
) -> None:
    """Set up the demo city (Kaifeng), simulate its last month (once) and serve it."""
    from cityops.cli_simulate import run_simulation
    from cityops.services.demo import setup_demo
    from cityops.store.migrate import upgrade

    upgrade(ctx.engine)
    with ctx.session() as s:
        result = setup_demo(s, ctx.settings.data_dir)
    if simulate:
        run_simulation(days=days, seed=seed, cases_per_day=cases_per_day, only_if_empty=True)
    n = result.regions
    console.print(
        say(
            f"演示城市：{result.city_name}，{n.get('district', 0)} 个区、{n.get('street', 0)} 个街道、"
            f"{n.get('community', 0)} 个社区、{result.grids} 个单元网格，目录 {result.catalog_types} 类",
            f"demo city: {result.city_name}, {n.get('district', 0)} districts, "
            f"{n.get('street', 0)} streets, {n.get('community', 0)} communities, "
            f"{result.grids} unit grids, {result.catalog_types} catalog types",
        )
    )
    table = Table(title=say("演示账号（每个角色一个）", "Demo users (one per role)"))
    for col in ("角色 role", "用户名 user", "密码 password"):
        table.add_column(col)
    for u in result.users:
        table.add_row(f"{u.role} {u.role_label}", u.username, u.password)
    console.print(table)
    if serve_after:
        settings = ctx.settings
        url = f"http://{host or settings.host}:{port or settings.port}"
        console.print(
            say(f"服务地址 {url}  （接口文档 {url}/docs）", f"serving {url} (API docs {url}/docs)")
        )
        serve(host, port)


def _print_details(details: object) -> None:
    if not isinstance(details, list):
        return
    for d in details[:50]:
        if isinstance(d, dict) and "row" in d:
            line = f"  row {d['row']} [{d.get('column') or '-'}]: {d['message']}"
        else:
            line = f"  {d}"
        err_console.print(line, markup=False)
    if len(details) > 50:
        err_console.print(f"  … {len(details) - 50} more")


# Commands of other domains register themselves on ``app`` (they import ctx, say, console above).
from cityops import cli_cases, cli_components, cli_evaluate, cli_geo, cli_open311, cli_simulate  # noqa: E402, F401


def main() -> None:
    """Entry point: domain errors become a message and exit code 1, never a traceback."""
    try:
        app()
    except ValidationError as exc:  # settings from the environment or cityops.toml
        err_console.print("[red]配置错误 configuration error[/red]:")
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"])
            err_console.print(f"  {where}: {e['msg']}", markup=False)
        sys.exit(2)
    except CityopsError as exc:
        err_console.print(f"[red]错误 error[/red] ({exc.code}): ", end="")
        err_console.print(exc.message_for(_locale()), markup=False)
        _print_details(exc.details)
        sys.exit(1)
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("CITYOPS_DEBUG"):
            raise
        err_console.print("[red]内部错误 internal error[/red]: ", end="")
        err_console.print(f"{type(exc).__name__}: {exc}", markup=False)
        err_console.print("  (CITYOPS_DEBUG=1 shows the traceback)")
        sys.exit(70)


if __name__ == "__main__":
    main()
