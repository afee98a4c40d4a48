"""The problem catalog (管理部件和事项目录): codes, the standard's rules, and validation of import rows.

GB/T 47678.5-2026 numbers types with a 5-digit code: 2-digit major class + 3-digit minor class.
Components (部件) use major classes 01–05. Matters (事项) use 01–10: the matter "‹component›异常"
carries the *same code* as its component type (matter 01001 供水井盖异常, component 01001 供水井盖),
and 06–10 are matter-only. A type is therefore identified by (kind, code). Cities add local types
and override display names, availability and public reporting; those changes arrive as rows that
this module validates without touching storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cityops.core.errors import NotFound, RowError, ValidationFailed, unknown_columns

CODE_RE = re.compile(r"^\d{5}$")


class Kind(StrEnum):
    component = "component"
    matter = "matter"

    @property
    def label_zh(self) -> str:
        return "部件" if self is Kind.component else "事项"


COMPONENT_MAJORS = frozenset(f"{n:02d}" for n in range(1, 6))
MATTER_MAJORS = frozenset(f"{n:02d}" for n in range(1, 11))


def kinds_for_major(major: str) -> frozenset[Kind]:
    """Kinds a standard major class may hold; empty for a city's own (non-standard) major class."""
    return frozenset(
        k
        for k, majors in ((Kind.component, COMPONENT_MAJORS), (Kind.matter, MATTER_MAJORS))
        if major in majors
    )


Key = tuple[Kind, str]


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog type as the domain sees it (standard text plus the city's overrides)."""

    code: str
    kind: Kind
    major_code: str
    major_name: str
    name: str
    display_name: str | None = None
    keywords: str = ""
    enabled: bool = True
    public: bool = False
    origin: str = "standard"

    @property
    def label(self) -> str:
        return self.display_name or self.name


def default_public(kind: Kind) -> bool:
    """Matters (including each "‹component›异常") are what citizens report; components are assets."""
    return kind is Kind.matter


@dataclass
class RowUpdate:
    """A validated import row: either a new local type or overrides for an existing one."""

    row: int
    kind: Kind
    code: str
    new: CatalogEntry | None = None
    changes: dict[str, object] = field(default_factory=dict)


# Column aliases accepted in import files (Chinese headers as cities write them).
COLUMN_ALIASES: dict[str, str] = {
    "code": "code",
    "代码": "code",
    "小类代码": "code",
    "编码": "code",
    "kind": "kind",
    "类型": "kind",
    "major_code": "major_code",
    "大类代码": "major_code",
    "major_name": "major_name",
    "大类名称": "major_name",
    "name": "name",
    "名称": "name",
    "小类名称": "name",
    "display_name": "display_name",
    "显示名称": "display_name",
    "keywords": "keywords",
    "关键词": "keywords",
    "enabled": "enabled",
    "启用": "enabled",
    "public": "public",
    "公众可报": "public",
    # Written by export; informational on import (origin follows from the code).
    "origin": "origin",
    "来源": "origin",
}
EXPORT_COLUMNS = (
    "kind",
    "code",
    "major_code",
    "major_name",
    "name",
    "display_name",
    "keywords",
    "enabled",
    "public",
    "origin",
)

_TRUE = {"1", "true", "yes", "y", "是", "启用", "t"}
_FALSE = {"0", "false", "no", "n", "否", "停用", "禁用", "f"}
_KIND_WORDS = {"component": Kind.component, "部件": Kind.component, "matter": Kind.matter}
_KIND_WORDS |= {"事项": Kind.matter, "事件": Kind.matter}


def normalise_header(headers: Iterable[str]) -> list[str]:
    """Map file headers to field names; unknown headers are an error so typos are not ignored."""
    out: list[str] = []
    unknown: list[str] = []
    for h in headers:
        key = (h or "").strip()
        name = COLUMN_ALIASES.get(key) or COLUMN_ALIASES.get(key.lower())
        if name is None:
            unknown.append(key)
        out.append(name or key)
    if unknown:
        raise unknown_columns(unknown, COLUMN_ALIASES)
    if "code" not in out:
        raise ValidationFailed(
            "缺少必需的列：code（代码）",
            en="missing required column: code",
            code="missing_column",
        )
    return out


def parse_bool(text: str) -> bool | None:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


def validate_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    existing: Mapping[Key, CatalogEntry],
) -> tuple[list[RowUpdate], list[RowError]]:
    """Check import rows against the catalog; return the updates and every problem found.

    ``rows`` are (row number as the user sees it, {field: text}). Standard types may only get
    overrides (display name, keywords, enabled, public); new codes become local types.
    """
    updates: list[RowUpdate] = []
    errors: list[RowError] = []
    seen: dict[Key, int] = {}
    for rowno, raw in rows:
        row = {k: (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue  # blank line
        check = _RowCheck(rowno)
        update = _validate_row(row, existing, check)
        if update is not None:
            key = (update.kind, update.code)
            if key in seen:
                check.fail(
                    "code",
                    f"{update.kind.label_zh} {update.code} 与第 {seen[key]} 行重复"
                    f" / duplicate of row {seen[key]}",
                )
            seen.setdefault(key, rowno)
        if check.errors:
            errors.extend(check.errors)
        elif update is not None:
            updates.append(update)
    return updates, errors


def _validate_row(
    row: Mapping[str, str], existing: Mapping[Key, CatalogEntry], check: _RowCheck
) -> RowUpdate | None:
    err = check.fail
    code = row.get("code", "")
    if code.isdigit() and len(code) == 4:
        # Excel turns "01001" typed as a number into 1001; codes are fixed-width.
        code = code.zfill(5)
    if not CODE_RE.match(code):
        err("code", f"代码必须是 5 位数字，实为“{code}” / code must be 5 digits")
        return None
    kind = _resolve_kind(code, row.get("kind", ""), existing, err)
    if kind is None:
        return None

    changes: dict[str, object] = {}
    for col in ("enabled", "public"):
        if row.get(col):
            value = parse_bool(row[col])
            if value is None:
                err(col, f"无法识别的是/否值“{row[col]}” / not a yes/no value")
            else:
                changes[col] = value
    if row.get("display_name"):
        changes["display_name"] = row["display_name"]
    if row.get("keywords"):
        changes["keywords"] = row["keywords"]

    update = RowUpdate(row=check.row, kind=kind, code=code, changes=changes)
    current = existing.get((kind, code))
    if current is None:
        update.new = _new_local(kind, code, row, changes, err)
        return update
    for col, have in (
        ("name", current.name),
        ("major_code", current.major_code),
        ("major_name", current.major_name),
    ):
        if row.get(col) and row[col] != have:
            err(
                col,
                f"{code} 已存在，{col} 为“{have}”，不能改为“{row[col]}”（改显示名用 display_name）"
                f" / {code} exists with {col} '{have}'; use display_name to rename",
            )
    return update


def _resolve_kind(
    code: str,
    kind_text: str,
    existing: Mapping[Key, CatalogEntry],
    err: Callable[[str | None, str], None],
) -> Kind | None:
    """The row's kind: as written, else the only kind that has this code or may have it."""
    if kind_text:
        kind = _KIND_WORDS.get(kind_text.lower())
        if kind is None:
            err("kind", f"类型应为 component/部件 或 matter/事项，实为“{kind_text}”")
        return kind
    present = [k for k in Kind if (k, code) in existing]
    candidates = present or sorted(kinds_for_major(code[:2]))
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        err(
            "kind",
            f"代码 {code} 既可以是部件也可以是事项，请填写 kind"
            f" / code {code} exists as component and matter: give kind",
        )
    else:
        err(
            "kind",
            f"大类 {code[:2]} 不是标准大类，需要填写 kind / non-standard major class needs kind",
        )
    return None


def _new_local(
    kind: Kind,
    code: str,
    row: Mapping[str, str],
    changes: Mapping[str, object],
    err: Callable[[str | None, str], None],
) -> CatalogEntry | None:
    major = code[:2]
    for col in ("name", "major_name"):
        if not row.get(col):
            err(col, f"新增类型 {code} 需要填写 {col} / new type {code} needs {col}")
    if row.get("major_code") and row["major_code"] != major:
        err("major_code", f"大类代码应为代码前两位 {major} / major_code must be {major}")
    allowed = kinds_for_major(major)
    if allowed and kind not in allowed:
        err(
            "kind",
            f"标准大类 {major} 只有事项，不能新增部件 / standard major {major} holds matters only",
        )
    if not row.get("name") or not row.get("major_name"):
        return None
    return CatalogEntry(
        code=code,
        kind=kind,
        major_code=major,
        major_name=row["major_name"],
        name=row["name"],
        display_name=row.get("display_name") or None,
        keywords=row.get("keywords", ""),
        enabled=bool(changes.get("enabled", True)),
        public=bool(changes.get("public", default_public(kind))),
        origin="local",
    )


class _RowCheck:
    """Collects the problems of one row, so a row reports all of them at once."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.errors: list[RowError] = []

    def fail(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.row, column, message))


def unknown_code(code: str, kind: Kind | None = None) -> NotFound:
    what_zh = kind.label_zh if kind else "类型"
    what_en = kind.value if kind else "catalog"
    return NotFound(
        f"目录中没有{what_zh}代码 {code}",
        en=f"unknown {what_en} code {code}",
        code="unknown_catalog_code",
        details={"code": code, "kind": kind.value if kind else None},
    )
