"""Users, their API tokens, dashboard passwords and login sessions.

Tokens and passwords are stored as argon2 hashes only (argon2-cffi). A token
reads ``rp_<id>_<secret>``: the id finds its one hash, so a request costs one
indexed read and, the first time a token is seen, one argon2 verification; a
verified token is remembered with the hash it matched, so removing the user or
rotating the token (which deletes that hash) stops it at the next request, in
this process and in any other that shares the store.

Tokens are 256 random bits: a slow hash adds nothing against guessing them, so
their argon2 parameters are light (about 15 ms); passwords get argon2's
defaults (RFC 9106's low-memory profile). Sessions live in this process's
memory: a restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from routepilot.api.view import ActionError
from routepilot.store.base import AuditQuery, AuditRecord, TokenRecord, UserRecord

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
TOKEN_PREFIX = "rp_"
MIN_PASSWORD = 10


class Role(IntEnum):
    """What a user may do; each role may do everything the lower ones may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ActionError(
                f"unknown role {text[:32]!r}: expected viewer, operator or admin", 400
            ) from None


class AccountStore(Protocol):
    """The part of the store this module uses (``Store`` has it)."""

    def save_user(self, user: UserRecord) -> None: ...
    def remove_user(self, name: str) -> bool: ...
    def users(self) -> list[UserRecord]: ...
    def add_token(self, token: TokenRecord) -> None: ...
    def remove_tokens(self, user: str) -> int: ...
    def token(self, token_id: str) -> TokenRecord | None: ...
    def append_audit(self, record: AuditRecord) -> int: ...
    def audit(self, q: AuditQuery) -> list[AuditRecord]: ...


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires: float


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ActionError(
            f"bad user name {name[:64]!r}: letters, digits, '.', '_', '@' or '-', "
            "at most 64, starting with a letter or digit",
            400,
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise ActionError(f"a password needs {MIN_PASSWORD} to 1024 characters", 400)
    return password


class Accounts:
    """Users and their credentials over an :class:`AccountStore`; thread-safe enough for the
    API's worker threads (the store serialises its own calls)."""

    def __init__(
        self,
        store: AccountStore,
        *,
        session_ttl_s: float = 43200.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self._tokens = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
        self._passwords = PasswordHasher()
        self._verified: dict[str, tuple[str, bytes]] = {}
        self._sessions: dict[bytes, Session] = {}
        self._dummy: str | None = None

    # -- users ---------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        return self.store.users()

    def user(self, name: str) -> UserRecord | None:
        return next((u for u in self.store.users() if u.name == name), None)

    def add_user(
        self, name: str, role: Role, password: str | None = None
    ) -> tuple[UserRecord, str]:
        """The new user and their first token (shown once: only its hash is kept)."""
        check_name(name)
        if self.user(name) is not None:
            raise ActionError(f"user {name!r} exists (rotate its token or remove it first)", 409)
        hashed = None if password is None else self._passwords.hash(check_password(password))
        user = UserRecord(name=name, role=role.label, created=self.clock(), password_hash=hashed)
        self.store.save_user(user)
        return user, self._new_token(name)

    def remove_user(self, name: str) -> None:
        if not self.store.remove_user(name):
            raise ActionError(f"no user {name!r}", 404)
        self._forget(name)

    def rotate_token(self, name: str) -> str:
        """Revokes every token of the user and returns a new one (shown once)."""
        if self.user(name) is None:
            raise ActionError(f"no user {name!r}", 404)
        self.store.remove_tokens(name)
        self._verified = {k: v for k, v in self._verified.items() if not k.startswith(name + "/")}
        return self._new_token(name)

    def set_password(self, name: str, password: str) -> UserRecord:
        user = self.user(name)
        if user is None:
            raise ActionError(f"no user {name!r}", 404)
        hashed = self._passwords.hash(check_password(password))
        user = UserRecord(user.name, user.role, user.created, hashed)
        self.store.save_user(user)
        # A new password ends the sessions opened with the old one.
        self._sessions = {k: s for k, s in self._sessions.items() if s.user != name}
        return user

    def _new_token(self, name: str) -> str:
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(token_id, name, self._tokens.hash(token), self.clock())
        self.store.add_token(record)
        return token

    def _forget(self, name: str) -> None:
        self._verified = {k: v for k, v in self._verified.items() if not k.startswith(name + "/")}
        self._sessions = {k: s for k, s in self._sessions.items() if s.user != name}

    # -- credentials ---------------------------------------------------------------------

    def user_for_token(self, token: str) -> UserRecord | None:
        """The user this token belongs to, or None (unknown, revoked, or not one of ours)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        parts = token[len(TOKEN_PREFIX) :].split("_", 1)
        if len(parts) != 2:
            return None
        record = self.store.token(parts[0])
        if record is None:
            return None
        key = f"{record.user}/{record.id}"
        known = self._verified.get(key)
        digest = _digest(token)
        if not (known and known[0] == record.hash and hmac.compare_digest(known[1], digest)):
            try:
                self._tokens.verify(record.hash, token)
            except (VerificationError, InvalidHashError):
                return None
            self._verified[key] = (record.hash, digest)
        return self.user(record.user)

    def login(self, name: str, password: str) -> tuple[str, Session] | None:
        """A new session (its id goes in the cookie) when the password matches."""
        user = self.user(name) if _NAME.match(name) else None
        try:
            if user is None or user.password_hash is None:
                # Verified anyway, so that a login takes as long whether the user exists.
                if self._dummy is None:
                    self._dummy = self._passwords.hash(secrets.token_hex(16))
                self._passwords.verify(self._dummy, password + "x")
                return None
            self._passwords.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
        session = Session(user.name, secrets.token_urlsafe(24), now + self.session_ttl_s)
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def session(self, session_id: str) -> tuple[Session, UserRecord] | None:
        """The live session behind a cookie and its user as stored now, or None."""
        key = _digest(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        if session.expires <= self.clock():
            self._sessions.pop(key, None)
            return None
        user = self.user(session.user)
        if user is None:
            self._sessions.pop(key, None)
            return None
        return session, user

    def logout(self, session_id: str) -> None:
        self._sessions.pop(_digest(session_id), None)
