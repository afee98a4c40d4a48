"""Errors that carry a machine code and a human message, so every adapter (API, CLI) can answer the
same way: a specific message in the user's language and no traceback."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class CityopsError(Exception):
    """Base of every error a user may see.

    ``message`` is the Chinese text (the default locale); ``en`` the English one when the raiser
    provides it. ``details`` is JSON-able context such as row/column lists.
    """

    status: int = 400
    code: str = "invalid"

    def __init__(
        self,
        message: str,
        *,
        details: object = None,
        code: str | None = None,
        en: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.message_en = en
        self.details = details
        if code is not None:
            self.code = code

    def message_for(self, locale: str | None) -> str:
        if locale and locale.lower().startswith("en") and self.message_en:
            return self.message_en
        return self.message

    def to_dict(self, locale: str | None = None) -> dict[str, object]:
        return {"code": self.code, "message": self.message_for(locale), "details": self.details}


class NotFound(CityopsError):
    status = 404
    code = "not_found"


class Conflict(CityopsError):
    status = 409
    code = "conflict"


class Unauthorized(CityopsError):
    status = 401
    code = "unauthorized"


class Forbidden(CityopsError):
    status = 403
    code = "forbidden"


class ValidationFailed(CityopsError):
    status = 422
    code = "validation_failed"


@dataclass(frozen=True)
class RowError:
    """One problem in an imported file: row as the user sees it, column (or None), message."""

    row: int
    column: str | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}


def import_rejected(what_zh: str, what_en: str, errors: Sequence[RowError]) -> ValidationFailed:
    """The whole import is refused: nothing was written, every problem is listed."""
    return ValidationFailed(
        f"{what_zh}导入失败：{len(errors)} 处错误，未导入任何数据（可用 --skip-bad 跳过错误行）",
        en=f"{what_en} import rejected: {len(errors)} problem(s), nothing imported "
        "(use --skip-bad to skip bad rows)",
        code="import_rejected",
        details=[e.to_dict() for e in errors],
    )


def unknown_columns(unknown: Sequence[str], accepted: Iterable[str]) -> ValidationFailed:
    """A file header the importer does not know: refused, so a typo never drops a column."""
    return ValidationFailed(
        f"无法识别的列：{', '.join(unknown)}",
        en=f"unknown columns: {', '.join(unknown)}",
        code="unknown_columns",
        details={"unknown_columns": list(unknown), "accepted": sorted(set(accepted))},
    )


def duplicate_columns(repeated: Sequence[str]) -> ValidationFailed:
    return ValidationFailed(
        f"重复的列：{', '.join(repeated)}",
        en=f"the same column twice: {', '.join(repeated)}",
        code="duplicate_columns",
    )
