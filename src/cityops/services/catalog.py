"""Catalog use-cases: seed the standard, list, import local types and overrides, export."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.catalog import (
    EXPORT_COLUMNS,
    CatalogEntry,
    Kind,
    default_public,
    normalise_header,
    unknown_code,
    validate_rows,
)
from cityops.core.errors import RowError, ValidationFailed, import_rejected
from cityops.data import standard_catalog_rows
from cityops.services.tabular import read_table, write_table
from cityops.store.schema import CatalogType


def ensure_standard_catalog(session: Session) -> int:
    """Insert the standard types that are missing; keep a city's overrides of those present."""
    have = {
        (kind, code) for kind, code in session.execute(select(CatalogType.kind, CatalogType.code))
    }
    added = 0
    for row in standard_catalog_rows():
        if (row["kind"], row["code"]) in have:
            continue
        kind = Kind(row["kind"])
        session.add(
            CatalogType(
                code=row["code"],
                kind=kind.value,
                major_code=row["major_code"],
                major_name=row["major_name"],
                name=row["name"],
                keywords="",
                enabled=True,
                public=default_public(kind),
                origin="standard",
            )
        )
        added += 1
    session.flush()
    return added


def list_types(
    session: Session,
    *,
    kind: Kind | None = None,
    major: str | None = None,
    enabled: bool | None = None,
    public: bool | None = None,
    text: str | None = None,
) -> list[CatalogType]:
    if major is not None and not (len(major) == 2 and major.isdigit()):
        raise ValidationFailed(
            f"大类代码必须是 2 位数字，实为“{major}”",
            en=f"major class must be 2 digits, got '{major}'",
            code="bad_major_code",
        )
    q = select(CatalogType).order_by(CatalogType.kind, CatalogType.code)
    if kind is not None:
        q = q.where(CatalogType.kind == kind.value)
    if major is not None:
        q = q.where(CatalogType.major_code == major)
    if enabled is not None:
        q = q.where(CatalogType.enabled == enabled)
    if public is not None:
        q = q.where(CatalogType.public == public)
    if text:
        like = f"%{text}%"
        q = q.where(
            CatalogType.name.like(like)
            | CatalogType.display_name.like(like)
            | CatalogType.keywords.like(like)
        )
    return list(session.scalars(q))


def get_type(session: Session, code: str, kind: Kind | None = None) -> CatalogType:
    """The type with ``code``; ``kind`` may be omitted when only one kind uses the code."""
    if kind is not None:
        row = session.get(CatalogType, (kind.value, code))
        if row is None:
            raise unknown_code(code, kind)
        return row
    rows = list(session.scalars(select(CatalogType).where(CatalogType.code == code)))
    if not rows:
        raise unknown_code(code)
    if len(rows) > 1:
        raise ValidationFailed(
            f"代码 {code} 既是部件也是事项，请指明 kind",
            en=f"code {code} is both a component and a matter type: give the kind",
            code="ambiguous_catalog_code",
            details={"code": code, "kinds": sorted(r.kind for r in rows)},
        )
    return rows[0]


def update_type(
    session: Session,
    code: str,
    *,
    kind: Kind | None = None,
    display_name: str | None = None,
    keywords: str | None = None,
    enabled: bool | None = None,
    public: bool | None = None,
) -> CatalogType:
    """Change what a city may change about a type; ``display_name=""`` restores the standard name."""
    row = get_type(session, code, kind)
    if display_name is not None:
        row.display_name = display_name.strip() or None
    if keywords is not None:
        row.keywords = keywords.strip()
    if enabled is not None:
        row.enabled = enabled
    if public is not None:
        row.public = public
    session.flush()
    return row


def to_entry(row: CatalogType) -> CatalogEntry:
    return CatalogEntry(
        code=row.code,
        kind=Kind(row.kind),
        major_code=row.major_code,
        major_name=row.major_name,
        name=row.name,
        display_name=row.display_name,
        keywords=row.keywords,
        enabled=row.enabled,
        public=row.public,
        origin=row.origin,
    )


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: list[RowError] = field(default_factory=list)


def import_catalog(session: Session, path: Path, *, skip_bad: bool = False) -> ImportReport:
    """Import local types and overrides; on any bad row import nothing unless ``skip_bad``."""
    table = read_table(path)
    fields = normalise_header(table.headers)
    rows = [
        (rowno, {fields[i]: raw.get(h, "") for i, h in enumerate(table.headers)})
        for rowno, raw in table.rows
    ]
    existing = {(Kind(r.kind), r.code): to_entry(r) for r in session.scalars(select(CatalogType))}
    updates, errors = validate_rows(rows, existing)
    errors = sorted([*table.problems, *errors], key=lambda e: e.row)
    if errors and not skip_bad:
        raise import_rejected("目录", "catalog", errors)
    report = ImportReport(skipped=errors)
    for upd in updates:
        if upd.new is not None:
            e = upd.new
            session.add(
                CatalogType(
                    code=e.code,
                    kind=e.kind.value,
                    major_code=e.major_code,
                    major_name=e.major_name,
                    name=e.name,
                    display_name=e.display_name,
                    keywords=e.keywords,
                    enabled=e.enabled,
                    public=e.public,
                    origin="local",
                )
            )
            report.added += 1
        else:
            row = session.get(CatalogType, (upd.kind.value, upd.code))
            assert row is not None  # validate_rows saw it in ``existing``
            for name, value in upd.changes.items():
                setattr(row, name, value)
            report.updated += 1
    session.flush()
    return report


def export_catalog(session: Session, path: Path, *, origin: str | None = None) -> int:
    rows = list_types(session)
    if origin is not None:
        rows = [r for r in rows if r.origin == origin]
    write_table(
        path,
        EXPORT_COLUMNS,
        (
            (
                r.kind,
                r.code,
                r.major_code,
                r.major_name,
                r.name,
                r.display_name or "",
                r.keywords,
                "是" if r.enabled else "否",
                "是" if r.public else "否",
                r.origin,
            )
            for r in rows
        ),
    )
    return len(rows)
