"""The citizen's side on both databases: public reports (idempotent, public types only), the
status without identities, photos, rating once after closing with the reporter's secret."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.e2e.seed import photo_bytes, seed_city

from cityops.core.errors import Conflict, NotFound, ValidationFailed
from cityops.services import attachments as att
from cityops.services import public as pub
from cityops.services.cases import ActionRequest, act
from cityops.services.catalog import update_type
from cityops.store.blobs import DiskBlobStore
from cityops.store.schema import Case, User

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=TZ)
KEY = "deployment-secret-key-for-tests-0123456789"
REPORT = pub.PublicReport(
    type_code="06013",
    description="路面坑洼",
    lon=114.3427,
    lat=34.7943,
    contact_phone="13900001111",
)


@pytest.fixture
def city(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        seed_city(s)


def _users(s: Session) -> dict[str, User]:
    return {u.username: u for u in s.scalars(select(User))}


def _close(s: Session, number: str) -> None:
    u = _users(s)
    steps = [
        ("register", "shouli", ActionRequest(condition="1")),
        ("dispatch", "paiqian", ActionRequest(department="KF-SZ")),
        ("accept", "shizheng", ActionRequest()),
        ("report_done", "shizheng", ActionRequest(note="修复")),
        ("request_verify", "shouli", ActionRequest(supervisor="jiandu")),
        ("complete_verify", "jiandu", ActionRequest(result=True)),
        ("close", "shouli", ActionRequest()),
    ]
    for i, (action, user, req) in enumerate(steps, start=1):
        act(s, number, action, u[user], req, now=T0 + timedelta(minutes=10 * i))


def test_submit_is_idempotent_and_public_only(sessions: sessionmaker[Session], city: None) -> None:
    with sessions.begin() as s:
        first = pub.submit(s, REPORT, key=KEY, idempotency_key="k-1", now=T0)
        again = pub.submit(s, REPORT, key=KEY, idempotency_key="k-1", now=T0)
        assert first.created and not again.created
        assert again.number == first.number and again.secret == first.secret
        row = s.scalar(select(Case).where(Case.number == first.number))
        assert row is not None and row.source == "public" and row.reporter_id is None
        assert row.reporter_phone == "13900001111"
        other = pub.submit(s, REPORT, key=KEY, idempotency_key="k-2", now=T0)
        assert other.number != first.number
    with sessions.begin() as s:
        update_type(s, "06013", public=False)
    with sessions() as s, pytest.raises(ValidationFailed) as err:
        pub.submit(s, REPORT, key=KEY, now=T0)
    assert err.value.code == "type_not_public"


def test_status_reveals_no_identity(
    sessions: sessionmaker[Session], city: None, tmp_path: Path
) -> None:
    store = DiskBlobStore(tmp_path / "blobs")
    with sessions.begin() as s:
        photo = att.save_upload(s, store, photo_bytes("before"), "p.jpg", None)
        done = pub.submit(
            s, pub.PublicReport(**{**vars(REPORT), "photos": (photo.id,)}), key=KEY, now=T0
        )
    with sessions() as s:
        st = pub.status(s, done.number)
        assert st.stage == "report" and st.stage_label == "上报" and not st.voided
        assert [m.stage for m in st.timeline if m.at] == ["report"]
        assert st.photos_before == [photo.id] and st.photos_after == []
        assert pub.public_photo(s, done.number, photo.id)
        assert not pub.public_photo(s, done.number, "not-an-id")
        text = repr(st.to_json())
        assert "13900001111" not in text and "reporter" not in text
        with pytest.raises(NotFound):
            pub.status(s, "410204-20261110-9999")
    # Contact details a citizen typed into the text are masked on the public page too.
    with sessions.begin() as s:
        chatty = pub.submit(
            s,
            pub.PublicReport(
                **{**vars(REPORT), "description": "井盖缺失，请联系13812345678或a.b@example.com"}
            ),
            key=KEY,
            now=T0,
        )
    with sessions() as s:
        shown = pub.status(s, chatty.number).description
        assert shown == "井盖缺失，请联系138****5678或***@***"
    with sessions.begin() as s:
        act(
            s,
            done.number,
            "void",
            _users(s)["shouli"],
            ActionRequest(reason="重复"),
            now=T0 + timedelta(minutes=3),
        )
    with sessions() as s:
        st = pub.status(s, done.number)
        assert st.voided and st.stage_label == "不予立案"
        assert [m.stage for m in st.timeline] == ["report", "close"]


def test_status_shows_only_types_the_city_shows(
    sessions: sessionmaker[Session], city: None
) -> None:
    """Decision D18: a case of a type the city hides is "no case" on the status page, as in
    Open311 (case numbers are sequential: anyone could walk them)."""
    with sessions.begin() as s:
        done = pub.submit(s, REPORT, key=KEY, now=T0)
    with sessions() as s:
        assert pub.status(s, done.number).type_name
    with sessions.begin() as s:
        update_type(s, "06013", public=False)
    with sessions() as s:
        with pytest.raises(NotFound) as hidden:
            pub.status(s, done.number)
        assert hidden.value.code == "unknown_case"
        with pytest.raises(NotFound):
            pub.public_photo(s, done.number, "any")
    with sessions.begin() as s:
        update_type(s, "06013", public=True)
    with sessions() as s:
        assert pub.status(s, done.number).number == done.number


def test_rating_once_after_closing_with_the_secret(
    sessions: sessionmaker[Session], city: None
) -> None:
    with sessions.begin() as s:
        done = pub.submit(s, REPORT, key=KEY, now=T0)
    with sessions() as s, pytest.raises(Conflict) as not_closed:
        pub.rate(s, done.number, done.secret, 5, key=KEY)
    assert not_closed.value.code == "not_closed"
    with sessions.begin() as s:
        _close(s, done.number)
    with sessions() as s:
        for secret, rating, code in (
            (("x" * 16), 5, "wrong_rating_secret"),
            (done.secret, 6, "invalid_rating"),
        ):
            with pytest.raises(ValidationFailed) as bad:
                pub.rate(s, done.number, secret, rating, key=KEY)
            assert bad.value.code == code
        with pytest.raises(ValidationFailed):
            pub.rate(
                s, done.number, pub.rating_secret("another-deployment-key", done.number), 5, key=KEY
            )
    with sessions.begin() as s:
        row = pub.rate(s, done.number, done.secret.upper(), 4, " 很及时 ", key=KEY)
        assert (row.rating, row.rating_comment) == (4, "很及时")
    with sessions() as s:
        st = pub.status(s, done.number)
        assert st.stage == "close" and st.rating == 4 and all(m.at for m in st.timeline)
        with pytest.raises(Conflict) as twice:
            pub.rate(s, done.number, done.secret, 1, key=KEY)
        assert twice.value.code == "already_rated"


def test_type_groups_follow_the_catalog(sessions: sessionmaker[Session], city: None) -> None:
    groups = [
        {"key": "a", "label": "甲", "label_en": "A", "types": ["06010", "06013", "99999"]},
        {"key": "b", "label": "乙", "label_en": "B", "types": ["06036"]},
    ]
    with sessions.begin() as s:
        update_type(s, "06036", public=False)
        update_type(s, "06010", enabled=False)
    with sessions() as s:
        out = pub.public_type_groups(s, groups)
    assert [(g.key, [t.code for t in g.types]) for g in out] == [("a", ["06013"])]
