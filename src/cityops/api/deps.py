"""Request-scoped dependencies: the database session (one transaction) and the signed-in user."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cityops.core.errors import Forbidden, Unauthorized
from cityops.core.roles import Role
from cityops.services import principals
from cityops.services.open311 import one_writer
from cityops.services.users import user_from_token
from cityops.services.writer import GroupWriter
from cityops.store.schema import User

SESSION_COOKIE = "cityops_session"
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed if the handler returns, rolled back if it raises."""
    factory = request.app.state.sessions
    with factory() as session, session.begin():
        yield session


# scope="function": commit (or roll back) before the response is sent. With the default request
# scope the commit would run after the client already had its 2xx — a client could read stale
# data, and a failed commit would be a lost write the client believes succeeded.
Db = Annotated[Session, Depends(get_db, scope="function")]


def current_user(
    request: Request, session: Db, bearer: Annotated[str | None, Depends(oauth2)]
) -> User:
    token = bearer or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("请先登录", en="sign in first", code="not_authenticated")
    return user_from_token(session, token, request.app.state.secret)


CurrentUser = Annotated[User, Depends(current_user)]


async def intake_principal(
    request: Request, bearer: Annotated[str | None, Depends(oauth2)]
) -> principals.Principal:
    """The signed-in user for the intake: from the per-token cache (services/principals.py),
    loaded on a worker thread when not cached. Same refusals as ``current_user``."""
    token = bearer or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("请先登录", en="sign in first", code="not_authenticated")
    state = request.app.state
    db = str(state.engine.url)
    hit = principals.cached(db, state.secret, token)
    if hit is not None:
        return hit
    return await run_in_threadpool(principals.load, state.sessions, db, state.secret, token)


IntakePrincipal = Annotated[principals.Principal, Depends(intake_principal)]

_writer_guard = threading.Lock()


def intake_writer(request: Request) -> GroupWriter:
    """The app's group writer (services/writer.py), created with the first intake."""
    state = request.app.state
    writer: GroupWriter | None = getattr(state, "intake_writer", None)
    if writer is None:
        with _writer_guard:
            writer = getattr(state, "intake_writer", None)
            if writer is None:
                engine = state.engine
                writer = GroupWriter(state.sessions, lock=lambda: one_writer(engine))
                state.intake_writer = writer
    return writer


def require_roles(*roles: Role) -> Callable[[User], User]:
    """Dependency factory: the user must hold one of ``roles``."""

    def check(user: CurrentUser) -> User:
        if not set(user.role_names) & {r.value for r in roles}:
            names = "、".join(r.label_zh for r in roles)
            raise Forbidden(
                f"需要以下角色之一：{names}",
                en=f"requires one of the roles: {', '.join(r.value for r in roles)}",
                code="wrong_role",
            )
        return user

    return check
