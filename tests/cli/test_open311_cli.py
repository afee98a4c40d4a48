"""`cityops open311 …` as an operator runs it: keys and held reports.

SQLite only: the commands are thin over services/open311.py, which the API tests run on both
databases; every subprocess here costs about a second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select
from tests.cli.test_cli import Cli

from cityops.services import open311
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.migrate import upgrade
from cityops.store.schema import ApiKey, PublicSubmission


def test_keys_and_held_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cityops.db"
    cli = Cli(url, tmp_path / "var")
    engine = make_engine(url)
    try:
        upgrade(engine)
        out = cli.ok(
            "open311", "keys", "add", "市民通 App", "--contact", "ops@example.com", "--rate", "60"
        )
        found = re.search(r"o311_[\w-]+", out)
        assert found and "只显示这一次" in out
        key = found.group(0)
        with transaction(session_factory(engine)) as s:
            row = s.scalar(select(ApiKey))
            assert row is not None and row.rate_per_minute == 60 and row.key_hash != key
            assert open311.check_key(s, key).id == row.id
            sub = open311.Submission(service_code="06010", description="待审核的上报")
            s.add(PublicSubmission(token="tok-1", payload=json.dumps(sub.to_payload())))
        assert "已吊销密钥 #1" in cli.ok("open311", "keys", "revoke", key[:12])
        listed = cli.ok("open311", "keys", "list", "--all")
        assert "市民通 App" in listed and key[:12] in listed and key not in listed
        assert "tok-1" in cli.ok("open311", "submissions", "list")
        assert "已不予受理" in cli.ok(
            "open311", "submissions", "reject", "tok-1", "--reason", "广告", "--by", "shouli"
        )
        with session_factory(engine)() as s:
            decided = s.get(PublicSubmission, "tok-1")
            assert decided is not None and decided.status == "rejected"
            assert decided.note == "shouli：广告"
            assert s.scalar(select(ApiKey.revoked_at)) is not None
    finally:
        engine.dispose()
