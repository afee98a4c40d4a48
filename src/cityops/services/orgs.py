"""Organisation units: the command centre, departments, district and street offices."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, NotFound, ValidationFailed
from cityops.services.regions import get_region
from cityops.store.schema import OrgUnit

ORG_KINDS = {
    "centre": ("指挥中心", "command centre"),
    "department": ("处置部门", "department"),
    "district_office": ("区级管理机构", "district office"),
    "street_office": ("街道办事处", "street office"),
}


def add_org(
    session: Session,
    code: str,
    name: str,
    kind: str,
    *,
    parent_code: str | None = None,
    region_code: str | None = None,
) -> OrgUnit:
    if kind not in ORG_KINDS:
        raise ValidationFailed(
            f"未知的组织类型 {kind}；可选：{', '.join(ORG_KINDS)}",
            en=f"unknown organisation kind {kind}; valid: {', '.join(ORG_KINDS)}",
            code="unknown_org_kind",
        )
    if not code.strip() or not name.strip():
        raise ValidationFailed("编码和名称不能为空", en="code and name are required")
    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None:
        raise Conflict(
            f"组织编码 {code} 已存在", en=f"org unit {code} exists", code="duplicate_org"
        )
    org = OrgUnit(code=code, name=name, kind=kind)
    if parent_code:
        parent = session.scalar(select(OrgUnit).where(OrgUnit.code == parent_code))
        if parent is None:
            raise NotFound(
                f"没有上级组织 {parent_code}",
                en=f"no parent org unit {parent_code}",
                code="unknown_org_unit",
            )
        org.parent_id = parent.id
    if region_code:
        get_region(session, region_code)
        org.region_code = region_code
    session.add(org)
    session.flush()
    return org


def list_orgs(session: Session, kind: str | None = None) -> list[OrgUnit]:
    q = select(OrgUnit).order_by(OrgUnit.code)
    if kind:
        q = q.where(OrgUnit.kind == kind)
    return list(session.scalars(q))
