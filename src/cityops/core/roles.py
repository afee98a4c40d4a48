"""Roles of DESIGN §1; the value is the id used in tokens, config and the API."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    supervisor = "supervisor"
    acceptor = "acceptor"
    shift_leader = "shift_leader"
    dispatcher = "dispatcher"
    department = "department"
    handler = "handler"
    leader = "leader"
    evaluator = "evaluator"
    admin = "admin"
    public = "public"

    @property
    def label_zh(self) -> str:
        return _LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LABELS[self][1]


_LABELS: dict[Role, tuple[str, str]] = {
    Role.supervisor: ("监督员", "Field supervisor"),
    Role.acceptor: ("受理员", "Acceptor"),
    Role.shift_leader: ("值班长", "Shift leader"),
    Role.dispatcher: ("派遣员", "Dispatcher"),
    Role.department: ("处置部门", "Department"),
    Role.handler: ("处置人员", "Handler"),
    Role.leader: ("领导", "Leader"),
    Role.evaluator: ("考评员", "Evaluator"),
    Role.admin: ("管理员", "Administrator"),
    Role.public: ("市民", "Citizen"),
}

STAFF_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.public)
