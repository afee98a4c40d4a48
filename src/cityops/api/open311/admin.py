"""``/api/v1/open311``: API keys (admin) and the reports held for screening (acceptors).

These are internal API routes: they answer the internal error body, like the rest of /api/v1.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.api.deps import get_db, require_roles
from cityops.core.roles import Role
from cityops.services import open311 as svc
from cityops.store.schema import ApiKey, Case, PublicSubmission, User

router = APIRouter(prefix="/open311", tags=["open311 admin"])
# Committed before the answer is sent (the default "request" scope of a yield dependency
# commits after the response: a client could read its new key or decision not yet written).
Db = Annotated[Session, Depends(get_db, scope="function")]
Admin = Annotated[User, Depends(require_roles(Role.admin))]
Screener = Annotated[User, Depends(require_roles(Role.acceptor, Role.shift_leader, Role.admin))]


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["市民通 App"])
    contact: str = Field(default="", max_length=200)
    rate_per_minute: int = Field(default=30, ge=1, le=10_000)


class KeyOut(BaseModel):
    id: int
    prefix: str
    name: str
    contact: str
    rate_per_minute: int
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyOut:
        return cls(
            id=row.id,
            prefix=row.prefix,
            name=row.name,
            contact=row.contact,
            rate_per_minute=row.rate_per_minute,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself: shown this once, only its hash is stored")


@router.get("/keys", response_model=list[KeyOut], summary="Open311 API keys")
def list_keys(session: Db, _admin: Admin) -> list[KeyOut]:
    return [KeyOut.of(k) for k in svc.list_keys(session)]


@router.post("/keys", response_model=NewKeyOut, status_code=201, summary="Issue an API key")
def add_key(body: KeyIn, session: Db, _admin: Admin) -> NewKeyOut:
    row, plain = svc.create_key(
        session, body.name, contact=body.contact, rate_per_minute=body.rate_per_minute
    )
    return NewKeyOut(**KeyOut.of(row).model_dump(), key=plain)


@router.delete("/keys/{ref}", response_model=KeyOut, summary="Revoke an API key (id or prefix)")
def revoke_key(ref: str, session: Db, _admin: Admin) -> KeyOut:
    return KeyOut.of(svc.revoke_key(session, ref))


class SubmissionOut(BaseModel):
    token: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    note: str
    service_request_id: str | None
    api_key_id: int | None
    request: dict[str, Any] = Field(description="The report as received (staff only)")


def _out(session: Db, rows: list[PublicSubmission]) -> list[SubmissionOut]:
    ids = [r.case_id for r in rows if r.case_id]
    numbers = (
        dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(ids))).all())
        if ids
        else {}
    )
    return [
        SubmissionOut(
            token=r.token,
            status=r.status,
            created_at=r.created_at,
            decided_at=r.decided_at,
            note=r.note,
            service_request_id=numbers.get(r.case_id) if r.case_id else None,
            api_key_id=r.api_key_id,
            request=json.loads(r.payload),
        )
        for r in rows
    ]


@router.get(
    "/submissions", response_model=list[SubmissionOut], summary="Public reports (held: pending)"
)
def list_submissions(
    session: Db,
    _user: Screener,
    status: Literal["pending", "accepted", "rejected"] | None = "pending",
) -> list[SubmissionOut]:
    return _out(session, svc.list_submissions(session, status))


@router.post(
    "/submissions/{token}/accept",
    response_model=SubmissionOut,
    summary="Accept a held report: it becomes a case",
)
def accept(token: str, session: Db, user: Screener) -> SubmissionOut:
    svc.accept_submission(session, token, user.username)
    row = session.get(PublicSubmission, token)
    assert row is not None
    return _out(session, [row])[0]


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=250)


@router.post(
    "/submissions/{token}/reject", response_model=SubmissionOut, summary="Decline a held report"
)
def reject(token: str, body: RejectIn, session: Db, user: Screener) -> SubmissionOut:
    row = svc.reject_submission(session, token, user.username, body.reason)
    return _out(session, [row])[0]
