"""Users, roles, scopes and sign-in on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from cityops.services import orgs, users
from cityops.store.schema import Region

GOOD = "Grid-Work-2026"


def _setup(s: Session) -> None:
    s.add(Region(code="410200", level="city", name="开封市"))
    s.add(Region(code="410204", level="district", name="鼓楼区", parent_code="410200"))
    s.flush()
    orgs.add_org(s, "CENTRE", "指挥中心", "centre")
    orgs.add_org(s, "D-SZ", "市政工程管理处", "department", parent_code="CENTRE")


def test_add_user_with_roles_and_scope(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        _setup(s)
        users.add_user(
            s,
            "wang.wu",
            GOOD,
            ["department", "handler"],
            org_code="D-SZ",
            scope_region="410204",
            scope_department="D-SZ",
        )
    with sessions.begin() as s:
        u = users.get_user(s, "wang.wu")
        assert u.role_names == ["department", "handler"]
        assert u.scope_region_code == "410204"
        assert u.org_unit is not None and u.org_unit.code == "D-SZ"
        assert u.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"roles": ["boss"]}, ValidationFailed, "unknown_role"),
        ({"roles": ["public"]}, ValidationFailed, "unknown_role"),
        ({"password": "short"}, ValidationFailed, "weak_password"),
        ({"username": "x"}, ValidationFailed, "bad_username"),
        ({"org_code": "NOPE"}, NotFound, "unknown_org_unit"),
        ({"scope_region": "999999"}, NotFound, "unknown_region"),
        ({"scope_department": "CENTRE"}, ValidationFailed, "not_a_department"),
    ],
)
def test_bad_user_input(
    sessions: sessionmaker[Session], kwargs: dict[str, object], error: type, code: str
) -> None:
    with sessions.begin() as s:
        _setup(s)
    args: dict[str, object] = {"username": "li.si", "password": GOOD, "roles": ["acceptor"]}
    args.update(kwargs)
    with pytest.raises(error) as exc, sessions.begin() as s:
        users.add_user(s, args.pop("username"), args.pop("password"), args.pop("roles"), **args)  # type: ignore[arg-type]
    assert exc.value.code == code
    with sessions.begin() as s:  # nothing half-written
        assert users.list_users(s) == []


def test_duplicate_user_and_login(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        users.add_user(s, "li.si", GOOD, ["acceptor"])
    with pytest.raises(Conflict), sessions.begin() as s:
        users.add_user(s, "li.si", GOOD, ["acceptor"])
    with sessions.begin() as s:
        assert users.authenticate(s, "li.si", GOOD).username == "li.si"
        for name, pw in (("li.si", "wrong-Password-1"), ("nobody", GOOD)):
            with pytest.raises(Unauthorized) as exc:
                users.authenticate(s, name, pw)
            assert exc.value.code == "wrong_credentials"


def test_password_change_revokes_tokens(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        user = users.add_user(s, "li.si", GOOD, ["acceptor"])
        token = users.issue_token(user, "k" * 32, 60).token
        assert users.user_from_token(s, token, "k" * 32).username == "li.si"
        with pytest.raises(Unauthorized):
            users.user_from_token(s, token, "another-secret-key-of-32-bytes!!")
    with sessions.begin() as s:
        users.set_password(s, "li.si", "Another-Secret-9")
    with sessions.begin() as s:
        with pytest.raises(Unauthorized) as exc:
            users.user_from_token(s, token, "k" * 32)
        assert exc.value.code == "invalid_token"
        assert users.authenticate(s, "li.si", "Another-Secret-9").username == "li.si"
