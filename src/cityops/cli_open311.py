"""`cityops open311 …`: API keys for Open311 clients and the public reports held for screening."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from cityops.cli import app, console, ctx, say

open311_app = typer.Typer(
    help="Open311 GeoReport v2: API keys and held public reports. / Open311 接口",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="API keys of Open311 clients. / API 密钥", no_args_is_help=True)
submissions_app = typer.Typer(
    help="Public reports held for screening (tokens). / 待审核的公众上报", no_args_is_help=True
)
open311_app.add_typer(keys_app, name="keys")
open311_app.add_typer(submissions_app, name="submissions")
app.add_typer(open311_app, name="open311")


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(ctx.settings.timezone)).strftime("%Y-%m-%d %H:%M")


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="Who uses the key, e.g. the app's name")],
    contact: Annotated[str, typer.Option(help="E-mail or phone of the client's maintainer")] = "",
    rate: Annotated[int, typer.Option(help="POST requests per minute allowed to this key")] = 30,
) -> None:
    """Issue a key. It is printed once; only its SHA-256 is stored."""
    from cityops.services.open311 import create_key

    with ctx.session() as s:
        row, plain = create_key(s, name, contact=contact, rate_per_minute=rate)
        key_id = row.id
    console.print(say(f"已签发密钥 #{key_id}（只显示这一次）：", f"key #{key_id} (shown once):"))
    print(plain)


@keys_app.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
) -> None:
    """The keys issued (prefix, name, rate, state)."""
    from cityops.services.open311 import list_keys

    with ctx.session() as s:
        rows = list_keys(s, include_revoked=all_keys)
        table = Table(title=say(f"API 密钥 {len(rows)} 个", f"{len(rows)} API keys"))
        for col in (
            "id",
            "前缀 prefix",
            "名称 name",
            "联系 contact",
            "每分钟 rate",
            "签发 issued",
            "吊销 revoked",
        ):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                str(r.id),
                r.prefix,
                r.name,
                r.contact,
                str(r.rate_per_minute),
                _when(r.created_at),
                _when(r.revoked_at) if r.revoked_at else "",
            )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    ref: Annotated[str, typer.Argument(help="Key id or prefix (from keys list)")],
) -> None:
    """Revoke a key: requests with it get 403 from now on."""
    from cityops.services.open311 import revoke_key

    with ctx.session() as s:
        row = revoke_key(s, ref)
        console.print(say(f"已吊销密钥 #{row.id} {row.name}", f"revoked key #{row.id} {row.name}"))


@submissions_app.command("list")
def submissions_list(
    status: Annotated[str, typer.Option(help="pending, accepted, rejected or all")] = "pending",
) -> None:
    """Public reports by status (pending: waiting for a person)."""
    from cityops.services.open311 import list_submissions

    with ctx.session() as s:
        rows = list_submissions(s, None if status == "all" else status)
        table = Table(title=say(f"公众上报 {len(rows)} 条", f"{len(rows)} public reports"))
        for col in (
            "token",
            "状态 status",
            "收到 received",
            "类型 code",
            "描述 description",
            "备注 note",
        ):
            table.add_column(col)
        for r in rows:
            payload = json.loads(r.payload)
            table.add_row(
                r.token,
                r.status,
                _when(r.created_at),
                str(payload.get("service_code", "")),
                str(payload.get("description", ""))[:40],
                r.note,
            )
    console.print(table)


@submissions_app.command("accept")
def submissions_accept(
    token: Annotated[str, typer.Argument()],
    by: Annotated[str, typer.Option(help="Who decided (recorded in the note)")] = "cli",
) -> None:
    """Accept a held report: it becomes a public case; its token now answers the case number."""
    from cityops.services.open311 import accept_submission

    with ctx.session() as s:
        case = accept_submission(s, token, by)
        console.print(say(f"已受理，案件编号 {case.number}", f"accepted as {case.number}"))


@submissions_app.command("reject")
def submissions_reject(
    token: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why it is declined (kept with the report)")],
    by: Annotated[str, typer.Option(help="Who decided (recorded in the note)")] = "cli",
) -> None:
    """Decline a held report; its token then answers 404 with that explanation."""
    from cityops.services.open311 import reject_submission

    with ctx.session() as s:
        reject_submission(s, token, by, reason)
        console.print(say("已不予受理", "declined"))
