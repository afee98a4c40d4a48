"""Reading and writing the CSV/Excel tables that cities exchange (catalogs, standards, rules…).

Rows are numbered as the user sees them in a spreadsheet: the header is row 1, data starts at 2.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl

from cityops.core.errors import RowError, ValidationFailed

Row = tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[Row]
    # Structural problems found while reading (a row longer than the header), as RowErrors.
    problems: list[RowError] = field(default_factory=list)


def _bad_file(path: Path, why_zh: str, why_en: str) -> ValidationFailed:
    return ValidationFailed(
        f"无法读取文件 {path.name}：{why_zh}",
        en=f"cannot read {path.name}: {why_en}",
        code="bad_file",
        details={"file": str(path)},
    )


def _decode(data: bytes, path: Path) -> str:
    # Spreadsheet programs in China often save CSV as GB18030 (GBK); accept both.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _bad_file(path, "不是 UTF-8 或 GBK 编码的文本", "not UTF-8 or GBK text")


def read_table(path: Path) -> Table:
    if not path.exists():
        raise _bad_file(path, "文件不存在", "no such file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    raise _bad_file(path, "只支持 .csv 和 .xlsx", "only .csv and .xlsx are supported")


def _read_csv(path: Path) -> Table:
    text = _decode(path.read_bytes(), path)
    reader = csv.reader(io.StringIO(text))
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _bad_file(path, "文件为空", "the file is empty") from None
    rows: list[Row] = []
    problems: list[RowError] = []
    for line in reader:
        rowno = reader.line_num
        if any(v.strip() for v in line[len(headers) :]):
            problems.append(
                RowError(
                    rowno,
                    None,
                    f"本行有 {len(line)} 列，表头只有 {len(headers)} 列"
                    f" / row has {len(line)} cells, header has {len(headers)}",
                )
            )
            continue
        rows.append((rowno, dict(zip(headers, line, strict=False))))
    return Table(headers, rows, problems)


def _read_xlsx(path: Path) -> Table:
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise _bad_file(path, "不是有效的 Excel 文件", f"not a valid Excel file ({exc})") from None
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        first = next(it, None)
        if first is None:
            raise _bad_file(path, "工作表为空", "the sheet is empty")
        headers = ["" if h is None else str(h).strip() for h in first]
        rows: list[Row] = []
        for rowno, values in enumerate(it, start=2):
            rows.append(
                (rowno, {h: _cell_text(v) for h, v in zip(headers, values, strict=False) if h})
            )
        return Table(headers, rows)
    finally:
        wb.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_table(path: Path, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(list(headers))
        for row in rows:
            ws.append(list(row))
        wb.save(path)
        return
    if suffix != ".csv":
        raise _bad_file(path, "只支持 .csv 和 .xlsx", "only .csv and .xlsx are supported")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
