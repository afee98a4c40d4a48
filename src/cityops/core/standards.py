"""Case standards (立结案标准): per catalog type, the conditions under which a case is registered,
each with its closing condition and handling time limit, plus the default limits of other stages.

Cities keep their standard as an Excel sheet, one row per condition:
大类代码 | 大类名称 | 小类代码 | 小类名称 | 处置单位 | 主管部门 | 立案条件 | 结案条件 | 处置时限.
A type with several conditions has several rows (私搭乱建: 停工 4工作时 / 处罚 7工作日 / 拆除 20工作日),
and the type cells are often merged, so a row with empty code and name continues the type above.
This module parses rows already read into strings (the adapter reads XLSX/CSV) and reports every
problem with the row number and column header as the user sees them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from cityops.core.catalog import CODE_RE
from cityops.core.clock import BadTimeLimit, TimeLimit, TimeUnit
from cityops.core.errors import RowError, ValidationFailed


@dataclass(frozen=True)
class Condition:
    """One 立案条件 of a type, with what closes it and how long the department has."""

    seq: int
    text: str
    closing_condition: str
    time_limit: TimeLimit
    handling_unit: str = ""
    supervising_department: str = ""


@dataclass(frozen=True)
class CaseStandard:
    """The standard of one catalog type: its conditions in sheet order (seq 1, 2, …)."""

    type_code: str
    type_name: str
    conditions: tuple[Condition, ...]
    major_name: str = ""

    @property
    def major_code(self) -> str:
        return self.type_code[:2]


# Field -> (Chinese header written on export, accepted aliases).
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "major_code": ("大类代码", ("大类编码", "大类编号")),
    "major_name": ("大类名称", ("大类",)),
    "code": ("小类代码", ("小类编码", "小类编号", "代码", "编码", "类型代码", "type_code")),
    "name": ("小类名称", ("小类", "名称", "类型名称", "事项名称", "事部件名称", "type_name")),
    "handling_unit": ("处置单位", ("处置部门", "责任单位", "责任部门", "承办单位")),
    "supervising_department": ("主管部门", ("监管部门", "行业主管部门")),
    "condition": ("立案条件", ("立案标准",)),
    "closing_condition": ("结案条件", ("结案标准",)),
    "time_limit": ("处置时限", ("时限", "处理时限", "处置时间")),
}
REQUIRED = ("code", "name", "condition", "time_limit")
# Informational columns cities add; read and ignored.
IGNORED_HEADERS = frozenset(
    {"序号", "编号", "备注", "说明", "seq", "no", "note", "notes", "remark"}
)

_ALIASES: dict[str, str] = {}
for _field, (_zh, _more) in COLUMNS.items():
    for _name in (_field, _zh, *_more):
        _ALIASES[_name.lower()] = _field


def _clean(text: str | None) -> str:
    """NFKC (full-width to ASCII), trimmed, inner runs of spaces collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()


def _header_key(text: str | None) -> str:
    """Header as matched: no spaces, no required-marks such as "*" or "(必填)", lower case."""
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))
    key = re.sub(r"^\*|\*$|\((必填|选填)\)$", "", key)
    return key.lower()


def normalise_type_code(text: str | None) -> str | None:
    """A 5-digit catalog code, repairing what Excel does to it ("1001", "1001.0"); else None."""
    code = _clean(text)
    if re.fullmatch(r"\d+\.0*", code):
        code = code.split(".")[0]
    if code.isdigit() and len(code) == 4:
        code = code.zfill(5)
    return code if CODE_RE.match(code) else None


def _normalise_major(text: str) -> str | None:
    code = _clean(text)
    if re.fullmatch(r"\d+\.0*", code):
        code = code.split(".")[0]
    if code.isdigit() and len(code) <= 2:
        return code.zfill(2)
    return None


def parse_standard_rows(
    header: Sequence[str | None],
    rows: Sequence[Sequence[str | None]],
    *,
    first_row_number: int = 2,
) -> tuple[list[CaseStandard], list[RowError]]:
    """Parse a standards sheet; return the standards of the good rows and every problem found.

    ``first_row_number`` is the spreadsheet number of ``rows[0]`` (the header is the row above).
    A row with empty code and name continues the type above (merged cells), inheriting its
    handling unit and supervising department when those cells are empty too. Rows with a
    problem are left out; the caller decides whether to import the rest.
    """
    header_row = first_row_number - 1
    columns, errors = _map_header(header, header_row)
    if errors:
        return [], errors

    order: list[str] = []
    names: dict[str, str] = {}
    majors: dict[str, str] = {}
    conditions: dict[str, list[Condition]] = {}
    seen: dict[tuple[str, str], int] = {}
    previous: dict[str, str] | None = None  # the last row's values, for merged cells

    for offset, raw in enumerate(rows):
        rowno = first_row_number + offset
        cells = {f: _clean(raw[i]) if i < len(raw) else "" for f, i in columns.items()}
        if not any(cells.values()):
            continue  # blank line
        check = _RowCheck(rowno, header, columns)
        fail = check.fail
        continued = not cells.get("code") and not cells.get("name")
        if continued and previous is not None:
            for key in ("code", "name", "major_code", "major_name"):
                cells[key] = previous.get(key, "")
            for key in ("handling_unit", "supervising_department"):
                cells[key] = cells.get(key) or previous.get(key, "")

        code = normalise_type_code(cells.get("code"))
        if not cells.get("code"):
            fail("code", "缺少小类代码 / missing type code")
        elif code is None:
            fail(
                "code",
                f"小类代码必须是 5 位数字，实为“{cells['code']}” / type code must be 5 digits",
            )
        name = cells.get("name", "")
        if not name:
            fail("name", "缺少小类名称 / missing type name")
        elif code is not None and names.get(code, name) != name:
            fail(
                "name",
                f"{code} 在前面的行中名称为“{names[code]}”，此处为“{name}”"
                f" / {code} is named '{names[code]}' above",
            )
        if code is not None and cells.get("major_code"):
            major = _normalise_major(cells["major_code"])
            if major != code[:2]:
                fail(
                    "major_code",
                    f"大类代码应为小类代码的前两位 {code[:2]}，实为“{cells['major_code']}”"
                    f" / major code must be {code[:2]}",
                )

        text = cells.get("condition", "")
        if not text:
            fail("condition", "立案条件为空 / empty registration condition")
        limit: TimeLimit | None = None
        if not cells.get("time_limit"):
            fail("time_limit", "缺少处置时限 / missing time limit")
        else:
            try:
                limit = TimeLimit.parse(cells["time_limit"])
            except BadTimeLimit as exc:
                fail("time_limit", f"{exc.message} / {exc.message_en}")
        if code is not None and text:
            first = seen.get((code, text))
            if first is not None:
                fail(
                    "condition",
                    f"{code} 的立案条件“{text}”与第 {first} 行重复 / duplicate of row {first}",
                )
            else:
                seen[(code, text)] = rowno

        previous = cells
        if check.errors:
            errors.extend(check.errors)
            continue
        assert code is not None and limit is not None
        if code not in conditions:
            order.append(code)
            names[code] = name
            conditions[code] = []
        majors.setdefault(code, cells.get("major_name", ""))
        conditions[code].append(
            Condition(
                seq=len(conditions[code]) + 1,
                text=text,
                closing_condition=cells.get("closing_condition", ""),
                time_limit=limit,
                handling_unit=cells.get("handling_unit", ""),
                supervising_department=cells.get("supervising_department", ""),
            )
        )

    standards = [
        CaseStandard(code, names[code], tuple(conditions[code]), majors.get(code, ""))
        for code in order
    ]
    return standards, errors


def _map_header(header: Sequence[str | None], rowno: int) -> tuple[dict[str, int], list[RowError]]:
    """Column index of each known field; unknown, duplicate and missing columns are errors."""
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    for i, text in enumerate(header):
        key = _header_key(text)
        if not key or key in IGNORED_HEADERS:
            continue
        fieldname = _ALIASES.get(key)
        if fieldname is None:
            errors.append(
                RowError(
                    rowno,
                    _clean(text),
                    f"无法识别的列“{_clean(text)}” / unknown column; accepted: "
                    + "、".join(zh for zh, _ in COLUMNS.values()),
                )
            )
        elif fieldname in columns:
            errors.append(
                RowError(rowno, _clean(text), f"列“{_clean(text)}”重复 / duplicate column")
            )
        else:
            columns[fieldname] = i
    for fieldname in REQUIRED:
        if fieldname not in columns:
            zh = COLUMNS[fieldname][0]
            errors.append(RowError(rowno, zh, f"缺少必需的列“{zh}” / missing column {fieldname}"))
    return columns, errors


class _RowCheck:
    """Collects the problems of one row, naming columns as the file's header does."""

    def __init__(self, row: int, header: Sequence[str | None], columns: Mapping[str, int]) -> None:
        self.row = row
        self.header = header
        self.columns = columns
        self.errors: list[RowError] = []

    def fail(self, fieldname: str, message: str) -> None:
        index = self.columns.get(fieldname)
        label = COLUMNS[fieldname][0]
        if index is not None and index < len(self.header) and _clean(self.header[index]):
            label = _clean(self.header[index])
        self.errors.append(RowError(self.row, label, message))


EXPORT_FIELDS = (
    "major_code",
    "major_name",
    "code",
    "name",
    "handling_unit",
    "supervising_department",
    "condition",
    "closing_condition",
    "time_limit",
)


def standard_rows(standards: Sequence[CaseStandard]) -> tuple[list[str], list[list[str]]]:
    """Header and rows for export, one row per condition, every cell filled (no merging).

    ``parse_standard_rows(*standard_rows(s))`` gives back ``s``.
    """
    header = [COLUMNS[f][0] for f in EXPORT_FIELDS]
    rows: list[list[str]] = []
    for std in standards:
        for cond in std.conditions:
            values = {
                "major_code": std.major_code,
                "major_name": std.major_name,
                "code": std.type_code,
                "name": std.type_name,
                "handling_unit": cond.handling_unit,
                "supervising_department": cond.supervising_department,
                "condition": cond.text,
                "closing_condition": cond.closing_condition,
                "time_limit": str(cond.time_limit),
            }
            rows.append([values[f] for f in EXPORT_FIELDS])
    return header, rows


# --------------------------------------------------------------------------------------------
# Limits of the other stages


REGISTER_LIMIT = TimeLimit(Decimal(15), TimeUnit.natural_minute)
DISPATCH_LIMIT = TimeLimit(Decimal(15), TimeUnit.natural_minute)
VERIFY_LIMIT = TimeLimit(Decimal(2), TimeUnit.working_hour)


_STAGE_KEYS = {
    "register": "register",
    "立案": "register",
    "dispatch": "dispatch",
    "派遣": "dispatch",
    "verify": "verify",
    "核实": "verify",
}


@dataclass(frozen=True)
class StageLimits:
    """Time limits of the stages that do not come from the case standard.

    Defaults from published local standards (DESIGN §8): register 15分钟, dispatch 15分钟,
    verify 2工作时. The handling limit comes from the case's condition.
    """

    register: TimeLimit = REGISTER_LIMIT
    dispatch: TimeLimit = DISPATCH_LIMIT
    verify: TimeLimit = VERIFY_LIMIT

    @classmethod
    def parse(cls, data: Mapping[str, str]) -> StageLimits:
        """From {"register": "15分钟", "dispatch": "15分钟", "verify": "2工作时"}; missing keys
        keep their default, Chinese keys (立案/派遣/核实) are accepted."""
        values: dict[str, TimeLimit] = {}
        problems: list[dict[str, str]] = []
        for key, text in data.items():
            stage = _STAGE_KEYS.get(_header_key(key))
            if stage is None:
                problems.append({"key": key, "message": "unknown stage / 未知环节"})
                continue
            try:
                values[stage] = TimeLimit.parse(str(text))
            except BadTimeLimit as exc:
                problems.append({"key": key, "message": exc.message})
        if problems:
            raise ValidationFailed(
                "环节时限配置有误：" + "；".join(f"{p['key']}: {p['message']}" for p in problems),
                en="bad stage limits: "
                + "; ".join(f"{p['key']}: {p['message']}" for p in problems),
                code="bad_stage_limits",
                details=problems,
            )
        return cls(**values)

    def to_dict(self) -> dict[str, str]:
        return {
            "register": str(self.register),
            "dispatch": str(self.dispatch),
            "verify": str(self.verify),
        }


DEFAULT_STAGE_LIMITS = StageLimits()
