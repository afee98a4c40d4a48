"""The `cityops` command as a user runs it (a subprocess), on both databases.

Checks exit codes, that errors are one clear message and never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CITYOPS = str(Path(sys.executable).parent / "cityops")


class Cli:
    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.env = {
            **os.environ,
            "CITYOPS_DATABASE_URL": db_url,
            "CITYOPS_DATA_DIR": str(data_dir),
            "COLUMNS": "200",
        }

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [CITYOPS, *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.returncode == 1, result.stdout + result.stderr
        return result.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, fresh_db_url: Callable[[str], str], tmp_path: Path) -> Cli:
    return Cli(fresh_db_url(request.param), tmp_path / "var")


def test_help_documents_every_command(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/x.db", tmp_path)
    top = cli.ok("--help")
    for command in (
        "db",
        "catalog",
        "users",
        "org",
        "region",
        "city",
        "grids",
        "locate",
        "serve",
        "demo",
    ):
        assert command in top
    for group, commands in {
        "db": ("upgrade", "downgrade", "current"),
        "catalog": ("list", "import", "export", "set"),
        "users": ("add", "list", "set-password"),
        "org": ("add", "list"),
        "region": ("list",),
        "city": ("init",),
        "grids": ("export", "import", "responsibility", "assign"),
    }.items():
        text = cli.ok(group, "--help")
        for command in commands:
            assert command in text
            assert cli.ok(group, command, "--help")


def test_commands_refuse_an_unmigrated_database(cli: Cli) -> None:
    assert "cityops db upgrade" in cli.fails("catalog", "list")


def test_catalog_and_users_flow(cli: Cli, tmp_path: Path) -> None:
    cli.ok("db", "upgrade")
    out = cli.ok("catalog", "list", "--kind", "matter", "--major", "06")
    assert "51 catalog types" in out or "目录类型 51 个" in out
    assert "暴露垃圾" in out and "私搭乱建" in out

    assert "unknown_catalog_code" in cli.fails("catalog", "set", "99999", "--disable")
    assert "ambiguous_catalog_code" in cli.fails("catalog", "set", "01001", "--disable")
    cli.ok("catalog", "set", "01001", "--kind", "matter", "--display-name", "井盖（供水）异常")

    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,major_name\n06901,共享单车乱停放,市容环境类\nXYZ,,\n", "utf-8")
    err = cli.fails("catalog", "import", str(bad))
    assert "import_rejected" in err and "row 3 [code]" in err
    out = cli.ok("catalog", "import", str(bad), "--skip-bad")
    assert "1" in out
    assert "row 3 [code]" in cli("catalog", "import", str(bad), "--skip-bad").stderr

    export = tmp_path / "out.csv"
    cli.ok("catalog", "export", str(export), "--local-only")
    assert "06901" in export.read_text("utf-8")

    cli.ok(
        "users", "add", "li.si", "--role", "acceptor", "--password-stdin", stdin="Desk-Shift-2026\n"
    )
    assert "duplicate_user" in cli.fails(
        "users", "add", "li.si", "-r", "acceptor", "--password", "Desk-Shift-2026"
    )
    assert "weak_password" in cli.fails("users", "add", "w.u", "-r", "admin", "--password", "abc")
    assert "unknown_role" in cli.fails(
        "users", "add", "w.u", "-r", "boss", "--password", "Desk-Shift-2026"
    )
    assert "password_required" in cli.fails("users", "add", "w.u", "-r", "admin")
    cli.ok("users", "set-password", "li.si", "--password", "Night-Shift-2027")
    assert "li.si" in cli.ok("users", "list")


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/x.db", tmp_path)
    cli.env["CITYOPS_LOCALE"] = "fr"
    result = cli("db", "current")
    assert result.returncode == 2 and "locale" in result.stderr
