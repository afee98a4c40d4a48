"""Dispatch rules (权责清单): which department a registered case goes to.

A rule says: cases of this catalog *type* (exact 5-digit matter code, or a 2-digit major class, or
any type) in this *area* (a district / street / community code prefix, a 15-digit unit grid, or
the whole city) [on a component of this *owner*] go to this *department*. Several rules usually
match one case; the most specific one wins. Specificity is lexicographic over the three
dimensions in a configurable precedence order (default: type, then area, then owner), and every
dimension is totally ordered, so two different rules can only tie when they have the same match
key — which is refused when the rule set is loaded, never settled arbitrarily while dispatching.

A case on a component with a maintenance unit (养护单位) goes to that unit unless a rule written
for the component's owner matches (see ``RuleSet.resolve``). No match is not an error: the
dispatcher chooses by hand. See docs/dispatch.md for the worked examples.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from cityops.core.errors import RowError, ValidationFailed, duplicate_columns, unknown_columns

RuleId = str | int
Dimension = Literal["type", "area", "owner"]
Precedence = tuple[Dimension, Dimension, Dimension]

# The usual 权责清单 reading: first the matter, then where, then whose component.
TYPE_FIRST: Precedence = ("type", "area", "owner")
# Cities whose districts own everything in their territory except what a district rule names.
AREA_FIRST: Precedence = ("area", "type", "owner")

TYPE_RE = re.compile(r"^\d{5}$")
MAJOR_RE = re.compile(r"^\d{2}$")
AREA_RE = re.compile(r"^(\d{6}|\d{9}|\d{12}|\d{15})$")

# Area level by code length: 0 whole city, 1 district, 2 street, 3 community, 4 unit grid.
AREA_LENGTHS = (6, 9, 12, 15)
_AREA_LEVEL = {0: 0, 6: 1, 9: 2, 12: 3, 15: 4}
_AREA_NAMES = (
    ("全市", "whole city"),
    ("区县", "district"),
    ("街道", "street"),
    ("社区", "community"),
    ("网格", "grid"),
)

# Match key of a rule: (type code, major code or "" for any type; area or "" for the whole city;
# component owner or "" for any). Type and major codes differ in length, so one slot holds both.
MatchKey = tuple[str, str, str]
Levels = tuple[int, int, int]  # (type 0..2, area 0..4, owner 0..1)


@dataclass(frozen=True, kw_only=True)
class DispatchRule:
    """One line of the 权责清单. Blank strings mean "not given" (any type, whole city, any owner)."""

    id: RuleId
    type_code: str | None = None
    major_code: str | None = None
    area: str | None = None
    component_owner: str | None = None
    department: str
    auto_dispatch: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("type_code", "major_code", "area", "component_owner"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                object.__setattr__(self, name, None)

    @property
    def type_key(self) -> str:
        """The exact type code, else the major class, else "" (any type)."""
        return self.type_code or self.major_code or ""

    @property
    def match_key(self) -> MatchKey:
        return (self.type_key, self.area or "", self.component_owner or "")

    @property
    def levels(self) -> Levels:
        """How specific each dimension is: type 2 exact / 1 major / 0 any; area 0 city … 4 grid;
        owner 1 given / 0 any."""
        t = 2 if self.type_code else 1 if self.major_code else 0
        return (t, _AREA_LEVEL.get(len(self.area or ""), 0), 1 if self.component_owner else 0)

    def specificity(self, precedence: Precedence = TYPE_FIRST) -> tuple[int, int, int]:
        """Levels reordered by precedence; the larger tuple is the more specific rule."""
        return _order(self.levels, precedence)

    def matches(
        self,
        type_code: str | None,
        area_code: str | None,
        component_owner: str | None = None,
        *,
        major_code: str | None = None,
    ) -> bool:
        """Whether this rule applies to a case (``area_code``: the case's grid or region code;
        ``major_code`` only matters for a case typed to its class alone)."""
        if self.type_code and self.type_code != type_code:
            return False
        major = type_code[:2] if type_code else major_code
        if self.major_code and self.major_code != major:
            return False
        if self.area and not (area_code or "").startswith(self.area):
            return False
        return not self.component_owner or self.component_owner == component_owner

    def describe(self) -> tuple[str, str]:
        """The rule's condition as (Chinese, English) text for reasons and error messages."""
        if self.type_code:
            t = (f"类型 {self.type_code}", f"type {self.type_code}")
        elif self.major_code:
            t = (f"大类 {self.major_code}", f"major class {self.major_code}")
        else:
            t = ("任意类型", "any type")
        zh_area, en_area = _AREA_NAMES[self.levels[1]]
        a = (
            (zh_area, en_area)
            if not self.area
            else (f"{zh_area} {self.area}", f"{en_area} {self.area}")
        )
        zh, en = f"{t[0]}，{a[0]}", f"{t[1]}, {a[1]}"
        if self.component_owner:
            zh += f"，部件权属 {self.component_owner}"
            en += f", component owner {self.component_owner}"
        return zh, en


def _order(levels: Levels, precedence: Precedence) -> tuple[int, int, int]:
    t, a, o = levels
    by_name = {"type": t, "area": a, "owner": o}
    return (by_name[precedence[0]], by_name[precedence[1]], by_name[precedence[2]])


SuggestionSource = Literal["rule", "maintenance_unit", "none"]


@dataclass(frozen=True)
class Suggestion:
    """The department proposed to the dispatcher, and why. ``department`` None: choose by hand."""

    department: str | None
    rule_id: RuleId | None
    auto_dispatch: bool
    source: SuggestionSource
    reason: str
    reason_en: str

    def reason_for(self, locale: str | None) -> str:
        return self.reason_en if locale and locale.lower().startswith("en") else self.reason


@dataclass(frozen=True)
class RuleProblem:
    """A problem found when loading rules: the rule(s) involved, the field, the message."""

    rules: tuple[RuleId, ...]
    field: str | None
    message: str
    message_en: str
    conflict: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "rules": list(self.rules),
            "field": self.field,
            "message": self.message,
            "message_en": self.message_en,
            "conflict": self.conflict,
        }


def check_rules(
    rules: Sequence[DispatchRule],
    *,
    known_type_codes: Container[str] | None = None,
    known_departments: Container[str] | None = None,
    known_areas: Container[str] | None = None,
) -> list[RuleProblem]:
    """Every problem in a rule set: bad or unknown codes, repeated ids, and ties.

    A tie is two rules with the same match key. Because specificity is a total lexicographic
    order, that is the only way two rules can be equally specific for one case (docs/dispatch.md),
    so checking keys here is checking every possible case.
    """
    problems: list[RuleProblem] = []
    seen_ids: set[RuleId] = set()
    for rule in rules:
        if rule.id in seen_ids:
            problems.append(
                RuleProblem(
                    (rule.id,), "id", f"规则编号 {rule.id} 重复", f"repeated rule id {rule.id}"
                )
            )
        seen_ids.add(rule.id)
        problems.extend(
            RuleProblem((rule.id,), f, zh, en)
            for f, zh, en in _field_problems(rule, known_type_codes, known_departments, known_areas)
        )
    problems.extend(_ties(rules))
    return problems


def _field_problems(
    rule: DispatchRule,
    known_types: Container[str] | None,
    known_departments: Container[str] | None,
    known_areas: Container[str] | None,
) -> Iterator[tuple[str, str, str]]:
    rid = rule.id
    if rule.type_code is not None:
        if not TYPE_RE.match(rule.type_code):
            yield (
                "type_code",
                f"规则 {rid}：类型代码应为 5 位数字，实为“{rule.type_code}”",
                f"rule {rid}: type code must be 5 digits, got '{rule.type_code}'",
            )
        elif known_types is not None and rule.type_code not in known_types:
            yield (
                "type_code",
                f"规则 {rid}：目录中没有类型 {rule.type_code}",
                f"rule {rid}: unknown catalog type {rule.type_code}",
            )
    if rule.major_code is not None:
        if not MAJOR_RE.match(rule.major_code):
            yield (
                "major_code",
                f"规则 {rid}：大类代码应为 2 位数字，实为“{rule.major_code}”",
                f"rule {rid}: major class must be 2 digits, got '{rule.major_code}'",
            )
        elif rule.type_code is not None and rule.type_code[:2] != rule.major_code:
            yield (
                "major_code",
                f"规则 {rid}：类型 {rule.type_code} 不属于大类 {rule.major_code}",
                f"rule {rid}: type {rule.type_code} is not in major class {rule.major_code}",
            )
    if rule.area is not None:
        if not AREA_RE.match(rule.area):
            yield (
                "area",
                f"规则 {rid}：区域应为 6/9/12 位区域代码或 15 位网格编码，实为“{rule.area}”",
                f"rule {rid}: area must be a 6/9/12-digit region code or a 15-digit grid "
                f"code, got '{rule.area}'",
            )
        elif len(rule.area) == 6 and rule.area.endswith("00"):
            yield (
                "area",
                f"规则 {rid}：{rule.area} 是市级代码；全市适用的规则请将区域留空",
                f"rule {rid}: {rule.area} is a city code; leave the area empty for the whole city",
            )
        elif known_areas is not None and rule.area not in known_areas:
            yield (
                "area",
                f"规则 {rid}：没有区域或网格 {rule.area}",
                f"rule {rid}: unknown region or grid {rule.area}",
            )
    if not rule.department.strip():
        yield ("department", f"规则 {rid}：缺少责任部门", f"rule {rid}: department missing")
    elif known_departments is not None and rule.department not in known_departments:
        yield (
            "department",
            f"规则 {rid}：没有组织编码为 {rule.department} 的部门",
            f"rule {rid}: unknown department {rule.department}",
        )


def _ties(rules: Sequence[DispatchRule]) -> Iterator[RuleProblem]:
    """Rules sharing a match key: a conflict when their outcome differs, else a repetition."""
    by_key: dict[MatchKey, list[DispatchRule]] = {}
    for rule in rules:
        by_key.setdefault(rule.match_key, []).append(rule)
    for group in by_key.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                zh, en = a.describe()
                if _outcome(a) != _outcome(b):
                    yield RuleProblem(
                        (a.id, b.id),
                        None,
                        f"规则 {a.id} 与规则 {b.id} 条件相同（{zh}），但结果不同"
                        f"（{_outcome_zh(a)} / {_outcome_zh(b)}）",
                        f"rules {a.id} and {b.id} have the same condition ({en}) but different "
                        f"outcomes ({_outcome_en(a)} / {_outcome_en(b)})",
                        conflict=True,
                    )
                else:
                    yield RuleProblem(
                        (a.id, b.id),
                        None,
                        f"规则 {b.id} 重复了规则 {a.id}（{zh} → {a.department}）",
                        f"rule {b.id} repeats rule {a.id} ({en} → {a.department})",
                        conflict=True,
                    )


def _outcome(rule: DispatchRule) -> tuple[str, bool]:
    return (rule.department, rule.auto_dispatch)


def _outcome_zh(rule: DispatchRule) -> str:
    return rule.department + ("，自动派遣" if rule.auto_dispatch else "")


def _outcome_en(rule: DispatchRule) -> str:
    return rule.department + (", auto-dispatch" if rule.auto_dispatch else "")


def rules_rejected(problems: Sequence[RuleProblem]) -> ValidationFailed:
    """One error listing every problem; code ``dispatch_rule_conflict`` when rules tie."""
    conflict = any(p.conflict for p in problems)
    shown = problems[:5]
    more_zh = f"；另有 {len(problems) - 5} 处" if len(problems) > 5 else ""
    more_en = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return ValidationFailed(
        f"权责清单有 {len(problems)} 处问题：" + "；".join(p.message for p in shown) + more_zh,
        en=f"dispatch rules have {len(problems)} problem(s): "
        + "; ".join(p.message_en for p in shown)
        + more_en,
        code="dispatch_rule_conflict" if conflict else "invalid_dispatch_rules",
        details={
            "problems": [p.to_dict() for p in problems],
            "conflicts": [list(p.rules) for p in problems if p.conflict],
        },
    )


def _check_precedence(precedence: Sequence[str]) -> Precedence:
    if sorted(precedence) != ["area", "owner", "type"]:
        raise ValidationFailed(
            f"派遣规则优先顺序应为 type、area、owner 的一种排列，实为 {list(precedence)}",
            en=f"dispatch precedence must order type, area and owner, got {list(precedence)}",
            code="bad_dispatch_precedence",
        )
    return cast(Precedence, tuple(precedence))


_ANY = ""


class RuleSet:
    """Validated, indexed dispatch rules. Construction refuses any problem (all listed at once).

    ``resolve`` makes at most 30 dictionary look-ups (3 type levels × 5 area levels × 2 owner
    levels, only those some rule uses), whatever the number of rules.
    """

    def __init__(
        self,
        rules: Iterable[DispatchRule],
        *,
        precedence: Sequence[Dimension] = TYPE_FIRST,
        maintenance_unit_auto_dispatch: bool = False,
        known_type_codes: Container[str] | None = None,
        known_departments: Container[str] | None = None,
        known_areas: Container[str] | None = None,
    ) -> None:
        self.rules: tuple[DispatchRule, ...] = tuple(rules)
        self.precedence = _check_precedence(precedence)
        self.maintenance_unit_auto_dispatch = maintenance_unit_auto_dispatch
        problems = check_rules(
            self.rules,
            known_type_codes=known_type_codes,
            known_departments=known_departments,
            known_areas=known_areas,
        )
        if problems:
            raise rules_rejected(problems)
        self._index: dict[MatchKey, DispatchRule] = {r.match_key: r for r in self.rules}
        present = {r.levels for r in self.rules}
        ordered = sorted(present, key=lambda lv: _order(lv, self.precedence), reverse=True)
        self._levels_all: tuple[Levels, ...] = tuple(ordered)
        self._levels_owner: tuple[Levels, ...] = tuple(lv for lv in ordered if lv[2])

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[DispatchRule]:
        return iter(self.rules)

    def resolve(
        self,
        type_code: str | None,
        major_code: str | None = None,
        grid_code: str | None = None,
        component_owner: str | None = None,
        component_maintenance_unit: str | None = None,
    ) -> Suggestion:
        """The department to suggest for a case.

        ``grid_code`` is the case's unit grid, or the most precise region code known when the
        case has no grid (a hotline case located to a street), or None (only whole-city rules
        apply). ``component_owner`` / ``component_maintenance_unit`` are the org unit codes of the
        case's component, if any; pass the maintenance unit only when it is an org unit that can
        receive cases.

        Order: (1) with a maintenance unit, the most specific matching rule *for the component's
        owner* wins, else the maintenance unit — rules that do not look at components never beat
        the unit that maintains this very asset; (2) without one, the most specific matching rule
        by the precedence; (3) else no suggestion.
        """
        values = self._case_values(type_code, major_code, grid_code, component_owner)
        if component_maintenance_unit:
            rule = self._first(values, self._levels_owner) if component_owner else None
            if rule is not None:
                return self._from_rule(rule)
            unit = component_maintenance_unit
            return Suggestion(
                unit,
                None,
                self.maintenance_unit_auto_dispatch,
                "maintenance_unit",
                "部件养护单位",
                "component maintenance unit",
            )
        rule = self._first(values, self._levels_all)
        if rule is not None:
            return self._from_rule(rule)
        return Suggestion(
            None,
            None,
            False,
            "none",
            "权责清单中没有适用的规则，请人工选择处置部门",
            "no dispatch rule applies; choose the department by hand",
        )

    def matching(
        self,
        type_code: str | None,
        major_code: str | None = None,
        grid_code: str | None = None,
        component_owner: str | None = None,
    ) -> list[DispatchRule]:
        """Every rule that applies to the case, most specific first (for the dispatcher's
        "why this department" view); the first is what ``resolve`` picks without a
        maintenance unit."""
        values = self._case_values(type_code, major_code, grid_code, component_owner)
        found: list[DispatchRule] = []
        for levels in self._levels_all:
            key = _key(values, levels)
            if key is not None and (rule := self._index.get(key)) is not None:
                found.append(rule)
        return found

    def _first(self, values: _CaseValues, candidates: tuple[Levels, ...]) -> DispatchRule | None:
        index = self._index
        for levels in candidates:
            key = _key(values, levels)
            if key is not None and (rule := index.get(key)) is not None:
                return rule
        return None

    @staticmethod
    def _case_values(
        type_code: str | None,
        major_code: str | None,
        grid_code: str | None,
        owner: str | None,
    ) -> _CaseValues:
        if type_code is not None and not TYPE_RE.match(type_code):
            raise _bad_case_input("type_code", type_code)
        if major_code is not None and not MAJOR_RE.match(major_code):
            raise _bad_case_input("major_code", major_code)
        if type_code is not None:
            if major_code is not None and major_code != type_code[:2]:
                raise _bad_case_input("major_code", major_code)
            major_code = type_code[:2]
        if grid_code is not None and not AREA_RE.match(grid_code):
            raise _bad_case_input("grid_code", grid_code)
        code = grid_code or ""
        n = len(code)
        areas = (
            _ANY,
            code[:6] if n >= 6 else None,
            code[:9] if n >= 9 else None,
            code[:12] if n >= 12 else None,
            code if n == 15 else None,
        )
        return ((_ANY, major_code, type_code), areas, (_ANY, owner or None))

    def _from_rule(self, rule: DispatchRule) -> Suggestion:
        zh, en = rule.describe()
        return Suggestion(
            rule.department,
            rule.id,
            rule.auto_dispatch,
            "rule",
            f"权责清单规则 {rule.id}（{zh}）",
            f"dispatch rule {rule.id} ({en})",
        )


# Per case: the value each level would need in a rule key; None = the case has nothing there.
_CaseValues = tuple[
    tuple[str, str | None, str | None],
    tuple[str, str | None, str | None, str | None, str | None],
    tuple[str, str | None],
]


def _key(values: _CaseValues, levels: Levels) -> MatchKey | None:
    t = values[0][levels[0]]
    a = values[1][levels[1]]
    o = values[2][levels[2]]
    if t is None or a is None or o is None:
        return None
    return (t, a, o)


def _bad_case_input(field: str, value: str) -> ValidationFailed:
    return ValidationFailed(
        f"派遣建议的输入无效：{field}=“{value}”",
        en=f"invalid dispatch input: {field}='{value}'",
        code="bad_dispatch_input",
        details={"field": field, "value": value},
    )


# --- import / export ------------------------------------------------------------------------------

COLUMN_ALIASES: dict[str, str] = {
    "id": "id",
    "编号": "id",
    "规则编号": "id",
    "type_code": "type_code",
    "类型代码": "type_code",
    "类型": "type_code",
    "代码": "type_code",
    "area": "area",
    "区域": "area",
    "区域代码": "area",
    "component_owner": "component_owner",
    "部件权属": "component_owner",
    "权属单位": "component_owner",
    "department": "department",
    "责任部门": "department",
    "处置部门": "department",
    "auto_dispatch": "auto_dispatch",
    "自动派遣": "auto_dispatch",
    "note": "note",
    "备注": "note",
}
EXPORT_COLUMNS = (
    "id",
    "type_code",
    "area",
    "component_owner",
    "department",
    "auto_dispatch",
    "note",
)

_TRUE = {"1", "true", "yes", "y", "t", "是", "自动"}
_FALSE = {"0", "false", "no", "n", "f", "否", ""}
_ANY_WORDS = {"", "*", "all", "any", "全部", "不限", "任意"}
_CITY_WORDS = {"", "*", "all", "city", "全市", "不限"}


def rule_columns(header: Sequence[object]) -> list[str | None]:
    """Field of each header cell (None for a blank header); unknown, repeated or missing
    columns are an error so that a typo never silently drops a condition."""
    fields: list[str | None] = []
    unknown: list[str] = []
    repeated: list[str] = []
    for cell in header:
        h = _cell(cell)
        if not h:
            fields.append(None)
            continue
        f = COLUMN_ALIASES.get(h) or COLUMN_ALIASES.get(h.lower())
        if f is None:
            unknown.append(h)
        elif f in fields:
            repeated.append(h)
        fields.append(f)
    if unknown:
        raise unknown_columns(unknown, COLUMN_ALIASES)
    if repeated:
        raise duplicate_columns(repeated)
    if "department" not in fields:
        raise ValidationFailed(
            "缺少必需的列：department（责任部门）",
            en="missing required column: department",
            code="missing_column",
            details={"missing_columns": ["department"]},
        )
    return fields


def parse_rule_rows(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    first_row_number: int = 2,
    *,
    city_code: str | None = None,
) -> tuple[list[DispatchRule], list[RowError]]:
    """Rules from spreadsheet rows (cells as openpyxl or csv give them); rows are numbered as
    the spreadsheet shows them, starting at ``first_row_number``."""
    fields = rule_columns(header)
    numbered = (
        (n, {f: v for f, v in zip(fields, cells, strict=False) if f is not None})
        for n, cells in enumerate(rows, start=first_row_number)
    )
    return parse_rule_records(numbered, city_code=city_code)


def parse_rule_records(
    records: Iterable[tuple[int, Mapping[str, object]]],
    *,
    city_code: str | None = None,
) -> tuple[list[DispatchRule], list[RowError]]:
    """Rules from (row number, {field: cell}) records; every problem as a RowError.

    A rule's id is its ``id`` cell, else its row number, so messages name the row. The city
    code (or any 6-digit code ending in 00 when ``city_code`` is not given) means the whole
    city. Rows that tie with another row are all reported (none is kept arbitrarily); an exact
    repetition is reported on the later row and the first is kept.
    """
    rules: list[DispatchRule] = []
    rows_of: dict[RuleId, int] = {}
    errors: list[RowError] = []
    for rowno, raw in records:
        cells = {k: _cell(v) for k, v in raw.items()}
        if not any(cells.values()):
            continue
        row_errors: list[RowError] = []
        rule = _parse_record(rowno, cells, city_code, row_errors)
        if rule is not None and rule.id in rows_of:
            row_errors.append(
                RowError(
                    rowno,
                    "id",
                    f"规则编号 {rule.id} 与第 {rows_of[rule.id]} 行重复"
                    f" / rule id repeats row {rows_of[rule.id]}",
                )
            )
        if row_errors or rule is None:
            errors.extend(row_errors)
            continue
        rows_of[rule.id] = rowno
        rules.append(rule)

    bad: set[RuleId] = set()
    by_id = {r.id: r for r in rules}
    for p in _ties(rules):
        a, b = p.rules
        ra, rb = rows_of[a], rows_of[b]
        if _outcome(by_id[a]) == _outcome(by_id[b]):
            errors.append(RowError(rb, None, f"与第 {ra} 行重复 / repeats row {ra}"))
            bad.add(b)
        else:
            for mine, other in ((ra, rb), (rb, ra)):
                errors.append(
                    RowError(
                        mine,
                        "department",
                        f"与第 {other} 行条件相同但结果不同 / same condition as row {other} "
                        "with a different outcome",
                    )
                )
            bad.update((a, b))
    errors.sort(key=lambda e: e.row)
    return [r for r in rules if r.id not in bad], errors


def _parse_record(
    rowno: int, cells: Mapping[str, str], city_code: str | None, errors: list[RowError]
) -> DispatchRule | None:
    def fail(column: str, zh: str, en: str) -> None:
        errors.append(RowError(rowno, column, f"{zh} / {en}"))

    rule_id: RuleId = rowno
    if cells.get("id"):
        text = cells["id"]
        rule_id = int(text) if text.isdigit() else text

    type_code = major_code = None
    t = cells.get("type_code", "")
    if t.lower() not in _ANY_WORDS:
        if t.isdigit() and len(t) == 4:
            t = t.zfill(5)  # Excel turned 06010 into the number 6010
        elif t.isdigit() and len(t) == 1:
            t = t.zfill(2)  # and 06 into 6
        if TYPE_RE.match(t):
            type_code = t
        elif MAJOR_RE.match(t):
            major_code = t
        else:
            fail(
                "type_code",
                f"类型代码应为 5 位类型代码、2 位大类代码或留空，实为“{t}”",
                "type_code must be a 5-digit type, a 2-digit major class or empty",
            )

    area: str | None = None
    a = cells.get("area", "")
    if a.lower() not in _CITY_WORDS:
        if city_code is not None and a == city_code:
            pass  # the whole city
        elif not AREA_RE.match(a):
            fail(
                "area",
                f"区域应为 6/9/12 位区域代码、15 位网格编码或留空（全市），实为“{a}”",
                "area must be a 6/9/12-digit region code, a 15-digit grid code or empty",
            )
        elif len(a) == 6 and a.endswith("00"):
            if city_code is not None:
                fail(
                    "area",
                    f"{a} 不是本市代码 {city_code}",
                    f"{a} is not this city's code {city_code}",
                )
        else:
            area = a

    department = cells.get("department", "")
    if not department:
        fail("department", "缺少责任部门", "department missing")

    auto_text = cells.get("auto_dispatch", "").lower()
    auto = auto_text in _TRUE
    if not auto and auto_text not in _FALSE:
        fail(
            "auto_dispatch",
            f"自动派遣应为 是/否，实为“{auto_text}”",
            "auto_dispatch must be yes/no (是/否, true/false, 1/0)",
        )

    if errors:
        return None
    return DispatchRule(
        id=rule_id,
        type_code=type_code,
        major_code=major_code,
        area=area,
        component_owner=cells.get("component_owner") or None,
        department=department,
        auto_dispatch=auto,
        note=cells.get("note", ""),
    )


def _cell(value: object) -> str:
    """A cell as text: Excel numbers lose their ".0", booleans become true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def rule_rows(rules: Iterable[DispatchRule]) -> list[list[str]]:
    """Rules as export rows under ``EXPORT_COLUMNS``; ``parse_rule_rows`` reads them back."""
    return [
        [
            str(r.id),
            r.type_key,
            r.area or "",
            r.component_owner or "",
            r.department,
            "是" if r.auto_dispatch else "否",
            r.note,
        ]
        for r in rules
    ]
