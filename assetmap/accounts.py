"""Who may do what: viewers search, editors keep the directory current, admins manage users."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import time
from collections.abc import Sequence

from sqlalchemy import Engine, delete, func, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from assetmap.db import reading, writing
from assetmap.errors import AssetmapError
from assetmap.models import FailedSignIn, User

ROLES = ("viewer", "editor", "admin")
MIN_PASSWORD = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the email is unknown, so both answers take as long.
_DUMMY = generate_password_hash("not a password of anyone's", method="scrypt")


class AccountError(AssetmapError):
    """An account cannot be made or changed as asked."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role in ("editor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _account(user: Any) -> Account:
    return Account(user.id, user.email, user.name, user.role)


def create_user(engine: Engine, email: str, name: str, password: str, role: str = "viewer") -> Account:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    with writing(engine) as conn:
        if conn.execute(select(User.id).where(User.email == email)).first():
            raise AccountError(f"there is already an account for {email}")
        new_id = conn.execute(User.__table__.insert().values(
            email=email, name=name.strip() or email, password_hash=generate_password_hash(password, method="scrypt"),
            role=role, created=dt.datetime.now(dt.timezone.utc)).returning(User.id)).scalar_one()
    return Account(new_id, email, name.strip() or email, role)


def authenticate(engine: Engine, email: str, password: str) -> Account | None:
    with engine.connect() as conn:
        row = conn.execute(select(User.__table__).where(User.email == email.strip().lower())).first()
    if row is None:
        check_password_hash(_DUMMY, password)
        return None
    if not check_password_hash(row.password_hash, password):
        return None
    with writing(engine) as conn:
        conn.execute(update(User).where(User.id == row.id).values(last_login=dt.datetime.now(dt.timezone.utc)))
    return _account(row)


def get_account(engine: Engine, user_id: int) -> Account | None:
    with reading(engine) as conn:
        found = conn.execute(select(User.__table__).where(User.id == user_id)).first()
    return _account(found) if found else None


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(User)).scalar_one())


# --- the sign-in brake's counts ------------------------------------------------------

BRAKE_WINDOW = 15 * 60  # seconds a failed sign-in counts against its keys


def failed_sign_ins(engine: Engine, keys: Sequence[str], now: float | None = None) -> dict[str, int]:
    """Failed sign-ins per key within the window: what the brake decides on."""
    since = (time.time() if now is None else now) - BRAKE_WINDOW
    with engine.connect() as conn:
        rows = conn.execute(select(FailedSignIn.key, func.count()).where(
            FailedSignIn.key.in_(keys), FailedSignIn.at > since).group_by(FailedSignIn.key)).all()
    found = {key: int(count) for key, count in rows}
    return {key: found.get(key, 0) for key in keys}


def record_failed_sign_in(engine: Engine, keys: Sequence[str], now: float | None = None) -> None:
    """Count a failure against every key, and forget failures older than the window."""
    now = time.time() if now is None else now
    with writing(engine) as conn:
        conn.execute(delete(FailedSignIn).where(FailedSignIn.at <= now - BRAKE_WINDOW))
        conn.execute(insert(FailedSignIn), [{"key": key, "at": now} for key in keys])


def forget_failed_sign_ins(engine: Engine, key: str) -> None:
    with writing(engine) as conn:
        conn.execute(delete(FailedSignIn).where(FailedSignIn.key == key))
