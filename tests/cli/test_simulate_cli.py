"""`cityops simulate` as a user runs it: a day of one district through the services, then bulk
history on top, on SQLite (the services' behaviour on both databases is in
tests/integration/test_simulation.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_cli import Cli


def test_simulate_a_day_then_bulk_history(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/sim.db", tmp_path / "var")
    help_text = cli.ok("simulate", "--help")
    assert "--bulk" in help_text and "--seed" in help_text
    assert "source checkout" in cli.ok("bench", "--help")
    out = cli.ok(
        "simulate",
        "--district",
        "410204",
        "--grid-size",
        "250",
        "--days",
        "1",
        "--cases-per-day",
        "30",
        "--end",
        "2026-11-25T12:00",
    )
    assert "reports" in out or "上报" in out
    assert "2026-11-24 12:00" in out  # one day ending at --end, in the city's time zone
    out = cli.ok("simulate", "--bulk", "--cases", "3000", "--batch", "1000", "--per-day", "500")
    assert "3,000" in out and ("cases/s" in out or "件/秒" in out)
    # The bulk history is hash-chained and replays like the services' own: the audit passes.
    out = cli.ok("audit", "verify")
    checked = re.search(r"(\d+)", out)
    assert checked and int(checked.group(1)) >= 3000, out
    assert "every log intact" in out or "日志完整" in out
    bad = cli.fails("simulate", "--end", "yesterday-ish", "--district", "410204")
    assert "bad_end" in bad
