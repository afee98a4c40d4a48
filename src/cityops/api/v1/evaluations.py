"""Evaluations (综合评价): rankings per subject type, drill-down to cases, publishing, reports.

Every figure of ``GET /evaluations`` links to its cases: a section's ``cases_url`` is a template
(``{id}``, ``{figure}``) for ``GET /evaluations/cases``. A published period is answered from its
snapshot (frozen) unless ``live=true``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cityops.api.deps import CurrentUser, Db, get_db, require_roles
from cityops.core.errors import ValidationFailed
from cityops.core.evaluation import EvaluationPeriod, Scheme, SubjectType, parse_subjects
from cityops.core.roles import Role
from cityops.services import evaluation as svc
from cityops.services import reports
from cityops.store.schema import User

router = APIRouter(tags=["evaluations"])
# Writes commit before the response is sent (the default scope of a `yield` dependency commits
# after it, so a client could read before the snapshot exists).
DbCommitted = Annotated[Session, Depends(get_db, scope="function")]

PeriodQ = Annotated[
    str,
    Query(
        max_length=30,
        description="2026-10 (month), 2026-Q4 (quarter), 2026 (year), 2026-10-01..2026-10-15",
        examples=["2026-10"],
    ),
]
SubjectQ = Annotated[
    str,
    Query(
        max_length=200,
        description="department, district, street, community, grid, supervisor, acceptor, "
        "dispatcher; region (the four levels); all; or a comma list",
    ),
]
SchemeQ = Annotated[
    str | None,
    Query(
        max_length=60,
        description="A shipped scheme (GET /evaluations/schemes); default: the deployment's",
    ),
]


def _scheme(name: str | None) -> Scheme:
    """Shipped schemes by name only: the API never reads a path it is given."""
    if name is not None and name not in svc.shipped_schemes():
        raise ValidationFailed(
            f"没有内置考评方案 {name}（可选：{', '.join(svc.shipped_schemes())}）",
            en=f"no shipped scheme {name} (choose from {', '.join(svc.shipped_schemes())})",
            code="unknown_scheme",
        )
    return svc.load_scheme(name)


def _one_subject(text: str) -> SubjectType:
    subjects = parse_subjects(text)
    if len(subjects) != 1:
        raise ValidationFailed(
            "明细查询只针对一类考评对象", en="drill down into one subject type", code="bad_subject"
        )
    return subjects[0]


@router.get("/evaluations", summary="Evaluate a period: figures, scores, grades, ranks, change")
def get_evaluation(
    session: Db,
    _user: CurrentUser,
    period: PeriodQ,
    subject: SubjectQ = "all",
    scheme: SchemeQ = None,
    live: Annotated[bool, Query(description="Recompute even when published")] = False,
    compare: Annotated[bool, Query(description="Add the previous period's score and rank")] = True,
) -> dict[str, Any]:
    p = EvaluationPeriod.parse(period)
    result = svc.evaluate(
        session, p, parse_subjects(subject), scheme=_scheme(scheme), live=live, compare=compare
    )
    return result.to_json()


@router.get("/evaluations/cases", summary="Drill down: the exact cases behind one figure")
def get_cases(
    session: Db,
    user: CurrentUser,
    period: PeriodQ,
    subject: SubjectQ,
    id: Annotated[str, Query(max_length=32, description="Department code, region code or user id")],
    figure: Annotated[str, Query(max_length=40, description="An indicator key, e.g. handled_late")],
    scheme: SchemeQ = None,
    live: bool = False,
) -> dict[str, Any]:
    """Counts and totals list `cases`; rates list `numerator` and `denominator`. Each case has
    its number and the instant that put it in the period (omitted in a published snapshot)."""
    st = _one_subject(subject)
    svc.check_drill_access(session, user, st, id)
    return svc.drill(session, period, st, id, figure, scheme=_scheme(scheme), live=live)


class PublishIn(BaseModel):
    period: str = Field(max_length=30, examples=["2026-10"])
    subject: str = Field(default="all", max_length=200)
    scheme: str | None = Field(default=None, max_length=60)
    replace: bool = Field(default=False, description="Recompute and supersede a published one")


@router.post("/evaluations/publish", summary="Publish (freeze) a finished period (evaluators)")
def publish(
    body: PublishIn,
    session: DbCommitted,
    user: Annotated[User, Depends(require_roles(Role.evaluator))],
    response: Response,
) -> list[dict[str, Any]]:
    snaps = svc.publish(
        session,
        user,
        body.period,
        parse_subjects(body.subject),
        scheme=_scheme(body.scheme),
        replace=body.replace,
    )
    response.status_code = 201
    return [svc.snapshot_info(s) for s in snaps]


@router.get("/evaluations/snapshots", summary="Published evaluations")
def list_snapshots(
    session: Db,
    _user: CurrentUser,
    period: Annotated[str | None, Query(max_length=30)] = None,
    superseded: Annotated[bool, Query(description="Include superseded snapshots")] = False,
) -> list[dict[str, Any]]:
    return [
        svc.snapshot_info(s)
        for s in svc.list_snapshots(session, period, include_superseded=superseded)
    ]


@router.get("/evaluations/snapshots/{snapshot_id}", summary="One published evaluation, as frozen")
def get_snapshot(snapshot_id: int, session: Db, _user: CurrentUser) -> dict[str, Any]:
    import json

    s = svc.get_snapshot(session, snapshot_id)
    results = json.loads(s.results)
    return {**svc.snapshot_info(s), "section": results["section"], "scheme_text": s.scheme}


@router.get("/evaluations/schemes", summary="Shipped evaluation schemes")
def list_schemes(_user: CurrentUser) -> list[dict[str, Any]]:
    out = []
    for name in svc.shipped_schemes():
        s = svc.load_scheme(name)
        out.append({**s.summary(), "description": s.description})
    return out


@router.get(
    "/evaluations/report",
    summary="The evaluation report as a page (HTML) or a workbook (xlsx)",
    response_class=Response,
)
def get_report(
    session: Db,
    _user: CurrentUser,
    period: PeriodQ,
    subject: SubjectQ = "all",
    scheme: SchemeQ = None,
    format: Literal["html", "xlsx"] = "html",
    live: bool = False,
    trend: Annotated[int, Query(ge=1, le=12, description="Periods in the trend lines")] = 3,
) -> Response:
    """The HTML page links every figure to `GET /evaluations/cases` (shown in place)."""
    sch = _scheme(scheme)
    p = EvaluationPeriod.parse(period)
    subjects = parse_subjects(subject)
    result = svc.evaluate(session, p, subjects, scheme=sch, live=live)
    if format == "xlsx":
        return Response(
            reports.to_xlsx(result.to_json()),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="evaluation-{p.key}.xlsx"'},
        )
    extra = reports.html_extras(session, p, subjects, scheme=sch, trend_periods=trend)
    page = reports.to_html(result.to_json(), extra, api_base="")
    return Response(page, media_type="text/html; charset=utf-8")
