"""The PostgreSQL store's users, API tokens and audit log (a part of ``PostgresStore``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routepilot.store import accounts as sql
from routepilot.store.base import AuditQuery, AuditRecord, TokenRecord, UserRecord


class PgAccounts:
    """Mixed into PostgresStore, whose pool and guards it uses."""

    _timed: Callable[..., Any]
    _select: Callable[..., list[tuple[Any, ...]]]

    def save_user(self, user: UserRecord) -> None:
        self._timed(
            lambda conn: conn.execute(
                f"INSERT INTO users ({sql.USER_COLUMNS}) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, "
                "created = EXCLUDED.created, password_hash = EXCLUDED.password_hash",
                sql.user_row(user),
            )
        )

    def remove_user(self, name: str) -> bool:
        def run(conn: Any) -> bool:
            conn.execute("DELETE FROM api_tokens WHERE username = %s", (name,))
            return bool(conn.execute("DELETE FROM users WHERE name = %s", (name,)).rowcount > 0)

        return bool(self._timed(run))

    def users(self) -> list[UserRecord]:
        rows = self._select(f"SELECT {sql.USER_COLUMNS} FROM users ORDER BY name", [])
        return [sql.to_user(r) for r in rows]

    def add_token(self, token: TokenRecord) -> None:
        self._timed(
            lambda conn: conn.execute(
                f"INSERT INTO api_tokens ({sql.TOKEN_COLUMNS}) VALUES (%s, %s, %s, %s)",
                sql.token_row(token),
            )
        )

    def remove_tokens(self, user: str) -> int:
        return int(
            self._timed(
                lambda conn: (
                    conn.execute("DELETE FROM api_tokens WHERE username = %s", (user,)).rowcount
                )
            )
        )

    def token(self, token_id: str) -> TokenRecord | None:
        rows = self._select(f"SELECT {sql.TOKEN_COLUMNS} FROM api_tokens WHERE id = %s", [token_id])
        return sql.to_token(rows[0]) if rows else None

    def append_audit(self, record: AuditRecord) -> int:
        marks = ", ".join(["%s"] * 10)

        def run(conn: Any) -> int:
            row = conn.execute(
                f"INSERT INTO audit ({sql.AUDIT_COLUMNS}) VALUES ({marks}) RETURNING id",
                sql.audit_row(record),
            ).fetchone()
            return int(row[0])

        return int(self._timed(run))

    def audit(self, q: AuditQuery) -> list[AuditRecord]:
        query, params = sql.audit_select(q, "%s")
        return [sql.to_audit(r) for r in self._select(query, params)]
