"""Case standards (立结案标准) and dispatch rules (权责清单): import, export, and the cached,
validated forms the case loop reads on every intake and registration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from cityops.core.dispatch import (
    EXPORT_COLUMNS,
    DispatchRule,
    RuleSet,
    parse_rule_rows,
    rule_rows,
)
from cityops.core.errors import RowError, ValidationFailed, import_rejected
from cityops.core.standards import CaseStandard, StageLimits, parse_standard_rows, standard_rows
from cityops.services import cityconfig
from cityops.services.cache import StampedCache
from cityops.services.tabular import read_table, write_table
from cityops.store.schema import CaseStandardRow, CatalogType, DispatchRuleRow, OrgUnit, Region


def stage_limits(_session: Session) -> StageLimits:
    return cityconfig.active().stage_limits


# --- case standards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped: list[RowError]


def _rows_of(path: Path) -> tuple[list[str], list[list[str]], list[RowError]]:
    table = read_table(path)
    rows = [[cells.get(h, "") for h in table.headers] for _n, cells in table.rows]
    return table.headers, rows, list(table.problems)


def import_standards(session: Session, path: Path, *, skip_bad: bool = False) -> ImportReport:
    """Replace the standards of every type in the file; all or nothing unless ``skip_bad``."""
    headers, rows, problems = _rows_of(path)
    standards, errors = parse_standard_rows(headers, rows, first_row_number=2)
    errors = problems + errors
    matters = set(session.scalars(select(CatalogType.code).where(CatalogType.kind == "matter")))
    good: list[CaseStandard] = []
    for std in standards:
        if std.type_code not in matters:
            errors.append(
                RowError(0, "code", f"{std.type_code} 不是目录中的事项类型 / not a matter type")
            )
        else:
            good.append(std)
    if errors and not skip_bad:
        raise import_rejected("立结案标准", "case standards", sorted(errors, key=lambda e: e.row))
    codes = [s.type_code for s in good]
    session.execute(delete(CaseStandardRow).where(CaseStandardRow.type_code.in_(codes)))
    values = [
        {
            "type_code": s.type_code,
            "seq": c.seq,
            "condition": c.text,
            "closing_condition": c.closing_condition,
            "time_limit": str(c.time_limit),
            "handling_unit": c.handling_unit,
            "supervising_department": c.supervising_department,
        }
        for s in good
        for c in s.conditions
    ]
    if values:
        session.execute(insert(CaseStandardRow), values)
    session.flush()
    return ImportReport(len(values), errors)


def export_standards(session: Session, path: Path) -> int:
    from cityops.core.clock import TimeLimit
    from cityops.core.standards import Condition

    names = dict(
        session.execute(
            select(CatalogType.code, CatalogType.name).where(CatalogType.kind == "matter")
        ).all()
    )
    majors = dict(
        session.execute(
            select(CatalogType.major_code, CatalogType.major_name).where(
                CatalogType.kind == "matter"
            )
        ).all()
    )
    by_type: dict[str, list[Condition]] = {}
    for r in session.scalars(
        select(CaseStandardRow).order_by(CaseStandardRow.type_code, CaseStandardRow.seq)
    ):
        by_type.setdefault(r.type_code, []).append(
            Condition(
                r.seq,
                r.condition,
                r.closing_condition,
                TimeLimit.parse(r.time_limit),
                r.handling_unit,
                r.supervising_department,
            )
        )
    standards = [
        CaseStandard(code, names.get(code, ""), tuple(conds), majors.get(code[:2], ""))
        for code, conds in by_type.items()
    ]
    header, rows = standard_rows(standards)
    write_table(path, header, rows)
    return len(rows)


def conditions_of(session: Session, type_code: str) -> list[CaseStandardRow]:
    return list(
        session.scalars(
            select(CaseStandardRow)
            .where(CaseStandardRow.type_code == type_code)
            .order_by(CaseStandardRow.seq)
        )
    )


# --- dispatch rules -----------------------------------------------------------------------------------


def _to_rule(r: DispatchRuleRow) -> DispatchRule:
    return DispatchRule(
        id=r.id,
        type_code=r.type_code,
        major_code=r.major_code,
        area=r.area,
        component_owner=r.component_owner,
        department=r.department,
        auto_dispatch=r.auto_dispatch,
        note=r.note,
    )


def _city_code(session: Session) -> str | None:
    return session.scalar(select(Region.code).where(Region.level == "city").limit(1))


def _rules_stamp(session: Session) -> tuple[object, ...]:
    count, top = session.execute(select(func.count(), func.max(DispatchRuleRow.id))).one()
    return count, top, cityconfig.active().dispatch_precedence


def _build_rules(session: Session) -> RuleSet:
    rules = [_to_rule(r) for r in session.scalars(select(DispatchRuleRow))]
    return RuleSet(rules, precedence=cityconfig.active().dispatch_precedence)  # type: ignore[arg-type]


rules_cache: StampedCache[RuleSet] = StampedCache(_rules_stamp, _build_rules)


def rule_set(session: Session) -> RuleSet:
    """The validated rules, rebuilt when the table changed (count or highest id differ)."""
    return rules_cache.get(session)


def import_rules(session: Session, path: Path, *, replace: bool = True) -> int:
    """Load a 权责清单 file. Every row checked (types, departments, areas, ties) before writing;
    the whole set is validated together with what stays, so a conflict can never be stored."""
    headers, rows, problems = _rows_of(path)
    rules, errors = parse_rule_rows(headers, rows, 2, city_code=_city_code(session))
    errors = problems + errors
    if errors:
        raise import_rejected("权责清单", "dispatch rules", errors)
    departments = set(session.scalars(select(OrgUnit.code).where(OrgUnit.active.is_(True))))
    matters = set(session.scalars(select(CatalogType.code).where(CatalogType.kind == "matter")))
    keep = [] if replace else [_to_rule(r) for r in session.scalars(select(DispatchRuleRow))]
    # Ids of the file are row numbers; give them fresh ids past the kept ones for validation.
    offset = max((int(r.id) for r in keep), default=0)
    renumbered = [
        DispatchRule(
            id=offset + i,
            type_code=r.type_code,
            major_code=r.major_code,
            area=r.area,
            component_owner=r.component_owner,
            department=r.department,
            auto_dispatch=r.auto_dispatch,
            note=r.note or f"row {r.id}",
        )
        for i, r in enumerate(rules, start=1)
    ]
    RuleSet(
        [*keep, *renumbered],
        precedence=cityconfig.active().dispatch_precedence,  # type: ignore[arg-type]
        known_type_codes=matters,
        known_departments=departments,
    )
    if replace:
        session.execute(delete(DispatchRuleRow))
    if renumbered:
        session.execute(
            insert(DispatchRuleRow),
            [
                {
                    "type_code": r.type_code,
                    "major_code": r.major_code,
                    "area": r.area,
                    "component_owner": r.component_owner,
                    "department": r.department,
                    "auto_dispatch": r.auto_dispatch,
                    "note": r.note,
                }
                for r in renumbered
            ],
        )
    session.flush()
    rules_cache.invalidate()
    return len(renumbered)


def export_rules(session: Session, path: Path) -> int:
    rules = [
        _to_rule(r) for r in session.scalars(select(DispatchRuleRow).order_by(DispatchRuleRow.id))
    ]
    write_table(path, list(EXPORT_COLUMNS), rule_rows(rules))
    return len(rules)


def check_department(session: Session, code: str) -> None:
    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is None:
        raise ValidationFailed(
            f"未知部门 {code}", en=f"unknown department {code}", code="unknown_department"
        )
