"""Catalog use-cases on both databases: seeding, filters, import (all-or-nothing), export."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.catalog import Kind
from cityops.core.errors import NotFound, ValidationFailed
from cityops.services import catalog as svc
from cityops.services.tabular import read_table
from cityops.store.schema import CatalogType


def _count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(CatalogType)) or 0


def test_seed_is_complete_and_idempotent(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert svc.ensure_standard_catalog(s) == 403
    with sessions.begin() as s:
        assert svc.ensure_standard_catalog(s) == 0
        assert _count(s) == 403
        assert len(svc.list_types(s, kind=Kind.matter, major="06")) == 51
        assert len(svc.list_types(s, kind=Kind.component)) == 153
        # Default: matters are public, components not.
        assert len(svc.list_types(s, public=True)) == 250
        assert [r.name for r in svc.list_types(s, text="井盖", kind=Kind.component)][:1] == [
            "供水井盖"
        ]


def test_overrides_survive_reseeding(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        svc.ensure_standard_catalog(s)
        svc.update_type(s, "06010", display_name="垃圾暴露", public=False)
    with sessions.begin() as s:
        svc.ensure_standard_catalog(s)
        row = svc.get_type(s, "06010")
        assert (row.display_name, row.public, row.name) == ("垃圾暴露", False, "暴露垃圾")


def test_get_type_errors(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        svc.ensure_standard_catalog(s)
        with pytest.raises(NotFound) as exc:
            svc.get_type(s, "99999")
        assert exc.value.code == "unknown_catalog_code"
        with pytest.raises(ValidationFailed) as exc2:
            svc.get_type(s, "01001")  # component 供水井盖 and matter 供水井盖异常
        assert exc2.value.code == "ambiguous_catalog_code"
        assert svc.get_type(s, "01001", Kind.matter).name == "供水井盖异常"


GOOD_AND_BAD = """code,kind,major_code,major_name,name,display_name,public
06901,,06,市容环境类,共享单车乱停放,,是
06010,,,,,垃圾暴露,
ABC,,,,,,
06902,部件,06,市容环境类,错误类型,,
"""


def test_bad_rows_reject_the_whole_file(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    f = tmp_path / "local.csv"
    f.write_text(GOOD_AND_BAD, encoding="utf-8")
    with sessions.begin() as s:
        svc.ensure_standard_catalog(s)
    with pytest.raises(ValidationFailed) as exc, sessions.begin() as s:
        svc.import_catalog(s, f)
    assert exc.value.code == "import_rejected"
    details = exc.value.details
    assert isinstance(details, list)
    assert [(d["row"], d["column"]) for d in details] == [(4, "code"), (5, "kind")]
    with sessions.begin() as s:  # nothing was written
        assert _count(s) == 403
        assert svc.get_type(s, "06010").display_name is None


def test_skip_bad_imports_the_good_rows(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    f = tmp_path / "local.csv"
    f.write_text(GOOD_AND_BAD, encoding="utf-8")
    with sessions.begin() as s:
        svc.ensure_standard_catalog(s)
        report = svc.import_catalog(s, f, skip_bad=True)
    assert (report.added, report.updated, len(report.skipped)) == (1, 1, 2)
    with sessions.begin() as s:
        local = svc.get_type(s, "06901")
        assert (local.origin, local.kind, local.public) == ("local", "matter", True)
        assert svc.get_type(s, "06010").display_name == "垃圾暴露"


def test_gbk_csv_and_excel_round_trip(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("代码,大类名称,名称\n06905,市容环境类,占道晾晒\n".encode("gb18030"))
    with sessions.begin() as s:
        svc.ensure_standard_catalog(s)
        assert svc.import_catalog(s, gbk).added == 1
        out = tmp_path / "catalog.xlsx"
        assert svc.export_catalog(s, out) == 404
    table = read_table(out)
    assert table.headers[:2] == ["kind", "code"]
    assert len(table.rows) == 404
    # Excel stores the code as text, so leading zeros survive.
    ws = openpyxl.load_workbook(out).active
    assert ws["B2"].value == "01001"
    # Importing the export again changes nothing and is accepted.
    with sessions.begin() as s:
        report = svc.import_catalog(s, out)
        assert report.added == 0 and report.skipped == []


def test_row_longer_than_header_is_reported(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    f = tmp_path / "long.csv"
    f.write_text("code,public\n06010,否,extra\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc, sessions.begin() as s:
        svc.ensure_standard_catalog(s)
        svc.import_catalog(s, f)
    assert exc.value.details == [
        {
            "row": 2,
            "column": None,
            "message": "本行有 3 列，表头只有 2 列 / row has 3 cells, header has 2",
        }
    ]
