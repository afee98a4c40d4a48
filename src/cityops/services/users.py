"""Staff accounts: creation with roles and data scope, passwords (argon2), sign-in, tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from cityops.core.passwords import check_password
from cityops.core.roles import STAFF_ROLES, Role
from cityops.services.regions import get_region
from cityops.store.schema import OrgUnit, User, UserRole

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-Zz9!")


def parse_roles(names: list[str]) -> list[Role]:
    bad = [n for n in names if n not in {r.value for r in STAFF_ROLES}]
    if bad or not names:
        valid = ", ".join(r.value for r in STAFF_ROLES)
        raise ValidationFailed(
            f"未知角色：{', '.join(bad) or '（未填写）'}；可选：{valid}",
            en=f"unknown role(s): {', '.join(bad) or '(none given)'}; valid: {valid}",
            code="unknown_role",
            details={"unknown": bad, "valid": [r.value for r in STAFF_ROLES]},
        )
    return sorted({Role(n) for n in names})


def _org_by_code(session: Session, code: str) -> OrgUnit:
    org = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if org is None:
        raise NotFound(
            f"没有编码为 {code} 的组织单位",
            en=f"no organisation unit with code {code}",
            code="unknown_org_unit",
        )
    return org


def add_user(
    session: Session,
    username: str,
    password: str,
    roles: list[str],
    *,
    display_name: str | None = None,
    org_code: str | None = None,
    scope_region: str | None = None,
    scope_department: str | None = None,
    phone: str | None = None,
) -> User:
    if not USERNAME_RE.match(username):
        raise ValidationFailed(
            "用户名须为 3–64 个字母、数字或 _ . -，以字母或数字开头",
            en="user name must be 3–64 letters, digits or _ . -, starting with a letter or digit",
            code="bad_username",
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            f"用户名 {username} 已存在", en=f"user {username} already exists", code="duplicate_user"
        )
    role_list = parse_roles(roles)
    check_password(password, username)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        phone=phone,
    )
    if org_code:
        user.org_unit_id = _org_by_code(session, org_code).id
    if scope_region:
        get_region(session, scope_region)
        user.scope_region_code = scope_region
    if scope_department:
        dept = _org_by_code(session, scope_department)
        if dept.kind != "department":
            raise ValidationFailed(
                f"{scope_department} 不是处置部门",
                en=f"{scope_department} is not a department",
                code="not_a_department",
            )
        user.scope_org_unit_id = dept.id
    user.roles = [UserRole(role=r.value) for r in role_list]
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"没有用户 {username}", en=f"no user {username}", code="unknown_user")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def set_password(session: Session, username: str, password: str) -> User:
    user = get_user(session, username)
    check_password(password, username)
    user.password_hash = _hasher.hash(password)
    user.token_version += 1  # sign out every session that used the old password
    session.flush()
    from cityops.services import principals  # (it imports this module)

    principals.invalidate()
    return user


_WRONG_LOGIN = Unauthorized(
    "用户名或密码错误", en="wrong user name or password", code="wrong_credentials"
)


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise _WRONG_LOGIN from None
    if user is None:
        raise _WRONG_LOGIN
    if not user.active:
        raise Unauthorized("账号已停用", en="account disabled", code="account_disabled")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


def issue_token(user: User, secret: str, ttl_minutes: int) -> IssuedToken:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "ver": user.token_version,
        "roles": user.role_names,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
    }
    return IssuedToken(jwt.encode(claims, secret, algorithm="HS256"), ttl_minutes * 60)


_BAD_TOKEN = Unauthorized(
    "登录已失效，请重新登录", en="session expired or invalid; sign in again", code="invalid_token"
)


def user_from_token(session: Session, token: str, secret: str) -> User:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise _BAD_TOKEN from None
    user = session.get(User, user_id)
    if user is None or not user.active or claims.get("ver") != user.token_version:
        raise _BAD_TOKEN
    return user
