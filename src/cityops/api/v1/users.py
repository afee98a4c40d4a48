"""Users and organisation units (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from cityops.api.deps import CurrentUser, Db, require_roles
from cityops.api.v1.models import OrgUnitOut, UserIn, UserOut
from cityops.core.roles import Role
from cityops.services import orgs, users
from cityops.store.schema import User

router = APIRouter(tags=["users"])
Admin = Annotated[User, Depends(require_roles(Role.admin))]


@router.get("/users", response_model=list[UserOut], summary="List users")
def list_users(session: Db, _admin: Admin) -> list[UserOut]:
    return [UserOut.of(u) for u in users.list_users(session)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user")
def create_user(body: UserIn, session: Db, _admin: Admin) -> UserOut:
    user = users.add_user(
        session,
        body.username,
        body.password,
        body.roles,
        display_name=body.display_name,
        org_code=body.org_unit,
        scope_region=body.scope_region,
        scope_department=body.scope_department,
        phone=body.phone,
    )
    return UserOut.of(user)


@router.get("/org-units", response_model=list[OrgUnitOut], summary="List organisation units")
def list_org_units(session: Db, _user: CurrentUser, kind: str | None = None) -> list[OrgUnitOut]:
    return [OrgUnitOut.of(o) for o in orgs.list_orgs(session, kind)]
