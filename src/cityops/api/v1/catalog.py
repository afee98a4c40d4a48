"""The problem catalog: anyone signed in may read it; administrators change a city's overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cityops.api.deps import CurrentUser, Db, require_roles
from cityops.api.v1.models import CatalogTypeOut, CatalogTypePatch
from cityops.core.catalog import Kind
from cityops.core.roles import Role
from cityops.services import catalog as svc
from cityops.store.schema import User

router = APIRouter(prefix="/catalog", tags=["catalog"])


@router.get("", response_model=list[CatalogTypeOut], summary="List catalog types")
def list_catalog(
    session: Db,
    _user: CurrentUser,
    kind: Kind | None = None,
    major: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    enabled: bool | None = None,
    public: bool | None = None,
    q: Annotated[str | None, Query(max_length=50)] = None,
) -> list[CatalogTypeOut]:
    rows = svc.list_types(session, kind=kind, major=major, enabled=enabled, public=public, text=q)
    return [CatalogTypeOut.of(r) for r in rows]


@router.get("/{kind}/{code}", response_model=CatalogTypeOut, summary="One catalog type")
def get_catalog_type(kind: Kind, code: str, session: Db, _user: CurrentUser) -> CatalogTypeOut:
    return CatalogTypeOut.of(svc.get_type(session, code, kind))


@router.patch(
    "/{kind}/{code}", response_model=CatalogTypeOut, summary="Rename, disable, mark public"
)
def patch_catalog_type(
    kind: Kind,
    code: str,
    body: CatalogTypePatch,
    session: Db,
    _admin: Annotated[User, Depends(require_roles(Role.admin))],
) -> CatalogTypeOut:
    row = svc.update_type(session, code, kind=kind, **body.model_dump(exclude_unset=True))
    return CatalogTypeOut.of(row)
