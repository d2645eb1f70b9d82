"""Users, API tokens and the audit log in SQL: what the SQLite and PostgreSQL stores share.

The two backends differ only in their parameter mark (``?`` or ``%s``) and in
how they run a statement; the columns, the filters and the row conversions are
here once.
"""

from __future__ import annotations

from typing import Any

from routepilot.store.base import AuditQuery, AuditRecord, TokenRecord, UserRecord

USER_COLUMNS = "name, role, created, password_hash"
TOKEN_COLUMNS = "id, username, hash, created"
AUDIT_COLUMNS = "time, username, address, action, method, path, request, change, status, outcome"


def user_row(u: UserRecord) -> tuple[Any, ...]:
    return (u.name, u.role, u.created, u.password_hash)


def token_row(t: TokenRecord) -> tuple[Any, ...]:
    return (t.id, t.user, t.hash, t.created)


def audit_row(r: AuditRecord) -> tuple[Any, ...]:
    return (
        r.time, r.user, r.address, r.action, r.method, r.path, r.request, r.change,
        int(r.status), r.outcome,
    )  # fmt: skip


def to_user(row: tuple[Any, ...]) -> UserRecord:
    return UserRecord(name=row[0], role=row[1], created=float(row[2]), password_hash=row[3])


def to_token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(id=row[0], user=row[1], hash=row[2], created=float(row[3]))


def to_audit(row: tuple[Any, ...]) -> AuditRecord:
    """A row of ``SELECT id, <AUDIT_COLUMNS>``."""
    return AuditRecord(
        id=int(row[0]), time=float(row[1]), user=row[2], address=row[3], action=row[4],
        method=row[5], path=row[6], request=row[7], change=row[8], status=int(row[9]),
        outcome=row[10],
    )  # fmt: skip


def audit_select(q: AuditQuery, mark: str) -> tuple[str, list[Any]]:
    """The audit query for these filters, newest first, with ``mark`` as parameter mark."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("time >= {}", q.since),
        ("time < {}", q.until),
        ("username = {}", q.user),
        ("action = {}", q.action),
    ):
        if value is not None:
            clauses.append(clause.format(mark))
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT id, {AUDIT_COLUMNS} FROM audit{where} ORDER BY time DESC, id DESC"
    if q.limit is not None:
        sql += f" LIMIT {mark}"
        params.append(int(q.limit))
    return sql, params
