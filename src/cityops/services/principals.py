"""Who is calling, from a bearer token, without the database on every request.

``users.user_from_token`` checks the token's signature and expiry and loads the user, their
roles and organisation unit (two or three statements) on every request. For the hot write path
(intake) the answer is kept per token for ``TTL`` seconds: a password change or a deactivation
made in this process is seen at once (``invalidate``), one made by another process (the CLI)
within ``TTL``; a token never outlives its own expiry.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from cityops.core.workflow import Actor
from cityops.services.cases import actor_of
from cityops.services.users import user_from_token

TTL = 5.0


@dataclass(frozen=True)
class Principal:
    """A signed-in staff user as the intake needs them: id, roles, the workflow's Actor."""

    user_id: int
    username: str
    role_names: list[str]
    actor: Actor


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until: float  # time.monotonic()


_cache: dict[tuple[str, str, str], _Entry] = {}
_guard = threading.Lock()
_MAX_ENTRIES = 10_000


def invalidate() -> None:
    """After a change to users, roles or passwords in this process."""
    with _guard:
        _cache.clear()


def cached(db: str, secret: str, token: str) -> Principal | None:
    """The principal of ``token`` if it is known and fresh (no database, no signature check);
    ``db`` names the database (``str(engine.url)``)."""
    entry = _cache.get((db, secret, token))
    if entry is None or time.monotonic() >= entry.until:
        return None
    return entry.principal


def load(sessions: sessionmaker[Session], db: str, secret: str, token: str) -> Principal:
    """Check the token and load its user (raises ``Unauthorized`` as ``user_from_token``)."""
    import jwt

    with sessions() as session, session.begin():
        user = user_from_token(session, token, secret)
        principal = Principal(
            user.id, user.username, list(user.role_names), actor_of(session, user)
        )
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    ttl = TTL if expires is None else min(TTL, float(expires) - time.time())
    with _guard:
        if len(_cache) >= _MAX_ENTRIES:
            _cache.clear()
        _cache[(db, secret, token)] = _Entry(principal, time.monotonic() + ttl)
    return principal
