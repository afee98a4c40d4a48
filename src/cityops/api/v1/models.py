"""Response and request bodies shared by the v1 routers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cityops.store.schema import CatalogType, OrgUnit, Region, User


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    roles: list[str]
    org_unit: str | None
    scope_region: str | None
    scope_department_id: int | None
    locale: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            roles=user.role_names,
            org_unit=user.org_unit.code if user.org_unit else None,
            scope_region=user.scope_region_code,
            scope_department_id=user.scope_org_unit_id,
            locale=user.locale,
        )


class UserIn(BaseModel):
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    roles: list[str] = Field(min_length=1)
    display_name: str | None = Field(default=None, max_length=100)
    org_unit: str | None = None
    scope_region: str | None = None
    scope_department: str | None = None
    phone: str | None = Field(default=None, max_length=20)


class CatalogTypeOut(BaseModel):
    code: str
    kind: str
    major_code: str
    major_name: str
    name: str
    display_name: str | None
    label: str
    keywords: str
    enabled: bool
    public: bool
    origin: str

    @classmethod
    def of(cls, row: CatalogType) -> CatalogTypeOut:
        return cls(
            code=row.code,
            kind=row.kind,
            major_code=row.major_code,
            major_name=row.major_name,
            name=row.name,
            display_name=row.display_name,
            label=row.display_name or row.name,
            keywords=row.keywords,
            enabled=row.enabled,
            public=row.public,
            origin=row.origin,
        )


class CatalogTypePatch(BaseModel):
    display_name: str | None = Field(default=None, max_length=100)
    keywords: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
    public: bool | None = None


class OrgUnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    region_code: str | None

    @classmethod
    def of(cls, org: OrgUnit) -> OrgUnitOut:
        return cls(
            id=org.id,
            code=org.code,
            name=org.name,
            kind=org.kind,
            parent_id=org.parent_id,
            region_code=org.region_code,
        )


class RegionOut(BaseModel):
    code: str
    level: str
    name: str
    parent_code: str | None
    synthetic: bool
    area_km2: float | None

    @classmethod
    def of(cls, r: Region) -> RegionOut:
        return cls(
            code=r.code,
            level=r.level,
            name=r.name,
            parent_code=r.parent_code,
            synthetic=r.synthetic,
            area_km2=None if r.area_m2 is None else round(r.area_m2 / 1e6, 3),
        )


class RegionRef(BaseModel):
    code: str
    name: str


class LonLat(BaseModel):
    lon: float
    lat: float


class LocateOut(BaseModel):
    """Where a position lies: unit grid and the regions above it; ``wgs84`` is the position as
    stored (after converting from the request's coordinate system)."""

    grid: str
    community: RegionRef
    street: RegionRef
    district: RegionRef
    wgs84: LonLat


class ResponsibilityGridOut(BaseModel):
    code: str
    name: str
    supervisor: str | None = Field(description="user name of the assigned supervisor")
    grid_count: int


class SupervisorIn(BaseModel):
    username: str | None = Field(description="a user holding the supervisor role; null unassigns")
