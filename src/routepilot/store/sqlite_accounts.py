"""The SQLite store's users, API tokens and audit log (a part of ``SqliteStore``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from routepilot.store import accounts as sql
from routepilot.store.base import AuditQuery, AuditRecord, TokenRecord, UserRecord

_T = TypeVar("_T")


class SqliteAccounts:
    """Mixed into SqliteStore, whose connection, lock and guards it uses."""

    _conn: sqlite3.Connection
    _timed: Callable[..., Any]
    _select: Callable[..., list[tuple[Any, ...]]]

    def save_user(self, user: UserRecord) -> None:
        def run() -> None:
            with self._conn:
                self._conn.execute(
                    f"INSERT OR REPLACE INTO users ({sql.USER_COLUMNS}) VALUES (?, ?, ?, ?)",
                    sql.user_row(user),
                )

        self._timed(run)

    def remove_user(self, name: str) -> bool:
        def run() -> bool:
            with self._conn:
                self._conn.execute("DELETE FROM api_tokens WHERE username = ?", (name,))
                return self._conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

        return bool(self._timed(run))

    def users(self) -> list[UserRecord]:
        rows = self._select(f"SELECT {sql.USER_COLUMNS} FROM users ORDER BY name", [])
        return [sql.to_user(r) for r in rows]

    def add_token(self, token: TokenRecord) -> None:
        def run() -> None:
            with self._conn:
                self._conn.execute(
                    f"INSERT INTO api_tokens ({sql.TOKEN_COLUMNS}) VALUES (?, ?, ?, ?)",
                    sql.token_row(token),
                )

        self._timed(run)

    def remove_tokens(self, user: str) -> int:
        def run() -> int:
            with self._conn:
                return self._conn.execute(
                    "DELETE FROM api_tokens WHERE username = ?", (user,)
                ).rowcount

        return int(self._timed(run))

    def token(self, token_id: str) -> TokenRecord | None:
        rows = self._select(f"SELECT {sql.TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", [token_id])
        return sql.to_token(rows[0]) if rows else None

    def append_audit(self, record: AuditRecord) -> int:
        marks = ", ".join("?" * 10)

        def run() -> int:
            with self._conn:
                cur = self._conn.execute(
                    f"INSERT INTO audit ({sql.AUDIT_COLUMNS}) VALUES ({marks})",
                    sql.audit_row(record),
                )
                assert cur.lastrowid is not None
                return cur.lastrowid

        return int(self._timed(run))

    def audit(self, q: AuditQuery) -> list[AuditRecord]:
        query, params = sql.audit_select(q, "?")
        return [sql.to_audit(r) for r in self._select(query, params)]
