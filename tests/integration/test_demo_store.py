"""The demo city as `make demo` builds it, on both databases; a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.roles import STAFF_ROLES
from cityops.services.demo import DEMO_DISTRICTS, setup_demo
from cityops.services.users import authenticate
from cityops.store.db import transaction
from cityops.store.schema import Grid, ResponsibilityGrid, User


def test_demo_builds_kaifeng_and_is_idempotent(
    sessions: sessionmaker[Session], data_dir: Path
) -> None:
    with transaction(sessions) as s:
        first = setup_demo(s, data_dir)
    assert first.city_name == "开封市"
    assert first.regions["district"] == len(DEMO_DISTRICTS) == 4
    assert first.regions["street"] > 100 and first.regions["community"] > 1000
    assert first.grids > 50_000 and first.catalog_types == 403
    assert {u.role for u in first.users} == {r.value for r in STAFF_ROLES}

    with sessions() as s:
        for u in first.users:
            assert authenticate(s, u.username, u.password).username == u.username
        supervisor = s.scalar(select(User).where(User.username == "jiandu"))
        assert supervisor is not None
        patrol = s.scalar(
            select(ResponsibilityGrid).where(ResponsibilityGrid.supervisor_id == supervisor.id)
        )
        assert patrol is not None and patrol.code.startswith("R410204")
        grids = s.scalar(select(func.count()).select_from(Grid))

    saved = json.loads((data_dir / "demo-users.json").read_text("utf-8"))
    assert {u["username"]: u["password"] for u in saved} == {
        u.username: u.password for u in first.users
    }
    with transaction(sessions) as s:
        second = setup_demo(s, data_dir)
    assert [(u.username, u.password) for u in second.users] == [
        (u.username, u.password) for u in first.users
    ]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Grid)) == grids
