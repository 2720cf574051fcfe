"""Who may do what: viewers search, editors keep the directory current, admins run the accounts.

Every change an admin makes to an account is in the audit log, and every change that
alters what a person may do (a new role, a new password, disabling) ends that
account's sessions at once by bumping its session generation.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from assetmap.db import reading, writing
from assetmap.errors import AssetmapError
from assetmap.keys import keyed_hash
from assetmap.models import AuditEntry, FailedSignIn, User

ROLES = ("viewer", "editor", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # scrypt of a megabyte is a denial of service, not a password
MAX_NAME = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"[0-9]{1,18}")  # an account number as typed: ASCII digits that fit 64 bits
# Checked against when the email is unknown or disabled, so every answer takes as long.
_DUMMY = generate_password_hash("not a password of anyone's", method="scrypt")
COMMAND_LINE = "command line"  # who made a change from `assetmap user`, in the audit log


class AccountError(AssetmapError):
    """An account cannot be made or changed as asked."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    role: str
    generation: int = 0
    disabled: bool = False

    @property
    def can_edit(self) -> bool:
        return self.role in ("editor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class AccountSummary:
    """What the admin's list shows of an account: never its password hash."""

    id: int
    email: str
    name: str
    role: str
    created: dt.datetime | None
    last_login: dt.datetime | None
    disabled_at: dt.datetime | None


def _account(user: Any) -> Account:
    return Account(user.id, user.email, user.name, user.role, int(user.session_generation or 0),
                   user.disabled_at is not None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def normal_email(email: str) -> str:
    """The email as accounts compare it, so " Editor@x.org" is the same account."""
    return email.strip().lower()


def _check_email(email: str) -> str:
    email = normal_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"{email[:80]!r} is not an email address")
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role[:20]!r} is not one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password can have at most {MAX_PASSWORD} characters")
    return password


def new_password() -> str:
    """A password an admin can read out or send once: about 100 bits, no look-alike letters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def _audit(conn: Connection, actor: str, action: str, account_id: int, field: str | None = None,
           old: str | None = None, new: str | None = None) -> None:
    conn.execute(insert(AuditEntry).values(at=_now(), user=actor, action=action, record_type="account",
                                           record_id=str(account_id), field=field, old_value=old, new_value=new))


def create_user(engine: Engine, email: str, name: str, password: str, role: str = "viewer",
                actor: str | None = None) -> Account:
    email, role, name = _check_email(email), _check_role(role), (name.strip() or email.strip())[:MAX_NAME]
    check_password(password)
    with writing(engine) as conn:
        if conn.execute(select(User.id).where(User.email == email)).first():
            raise AccountError(f"there is already an account for {email}")
        new_id = conn.execute(User.__table__.insert().values(
            email=email, name=name, password_hash=generate_password_hash(password, method="scrypt"),
            role=role, created=_now(), session_generation=secrets.randbits(62)).returning(User.id)).scalar_one()
        _audit(conn, actor or COMMAND_LINE, "create", new_id, "role", None, role)
    return find_account(engine, new_id)


def authenticate(engine: Engine, email: str, password: str) -> Account | None:
    """The account if the password is right and the account is not disabled; else None, as slowly."""
    if len(password) > MAX_PASSWORD:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(User.__table__).where(User.email == normal_email(email))).first()
    if row is None or row.disabled_at is not None:
        check_password_hash(_DUMMY, password)
        return None
    if not check_password_hash(row.password_hash, password):
        return None
    with writing(engine) as conn:
        conn.execute(update(User).where(User.id == row.id).values(last_login=_now()))
    return _account(row)


def get_account(engine: Engine, user_id: int) -> Account | None:
    with reading(engine) as conn:
        found = conn.execute(select(User.__table__).where(User.id == user_id)).first()
    return _account(found) if found else None


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(User)).scalar_one())


def list_accounts(engine: Engine) -> list[AccountSummary]:
    with reading(engine) as conn:
        rows = conn.execute(select(User.id, User.email, User.name, User.role, User.created, User.last_login,
                                   User.disabled_at).order_by(User.email)).all()
    return [AccountSummary(*row) for row in rows]


def find_account(engine: Engine, who: str | int) -> Account:
    """An account by id or by email; an AccountError that says so when there is none."""
    with reading(engine) as conn:
        if isinstance(who, int) or _NUMBER.fullmatch(str(who)):
            row = conn.execute(select(User.__table__).where(User.id == int(who))).first()
        else:
            row = conn.execute(select(User.__table__).where(User.email == normal_email(str(who)))).first()
    if row is None:
        raise AccountError(f"there is no account {str(who)[:80]!r}: `assetmap user list` shows them")
    return _account(row)


def account_number(text: str) -> int:
    """An account number from an address or a command line; an AccountError if it is not one."""
    if not _NUMBER.fullmatch(text):
        raise AccountError(f"{text[:20]!r} is not an account number")
    return int(text)


def _locked_account(conn: Connection, account_id: int) -> Any:
    """The account's row, locked until the transaction ends (PostGIS; SQLite's writers queue).

    Every admin's row is locked first, in one order, so that two admins changing each other
    at once queue instead of deadlocking, and each sees what the other did.
    """
    conn.execute(select(User.id).where(User.role == "admin").order_by(User.id).with_for_update()).all()
    row = conn.execute(select(User.__table__).where(User.id == account_id).with_for_update()).first()
    if row is None:
        raise AccountError(f"there is no account {account_id}: it may have been removed meanwhile")
    return row


def _other_active_admins(conn: Connection, account_id: int) -> int:
    # The admins' rows are locked (``_locked_account``): two admins demoting or disabling each
    # other at once cannot both see the other still active, as READ COMMITTED would let them.
    admins = conn.execute(select(User.id, User.disabled_at).where(User.role == "admin")).all()
    return sum(1 for admin_id, disabled in admins if admin_id != account_id and disabled is None)


def _keep_an_admin(conn: Connection, row: Any, what: str) -> None:
    """Refuse to leave the deployment with nobody who can run its accounts."""
    if row.role == "admin" and row.disabled_at is None and _other_active_admins(conn, row.id) == 0:
        raise AccountError(f"{row.email} is the only active admin: make another admin before you {what}")


def end_sessions(conn: Connection, account_id: int) -> None:
    """Every cookie signed in under the old generation is refused from the next request on."""
    conn.execute(update(User).where(User.id == account_id).values(
        session_generation=User.session_generation + 1))


def sign_out_everywhere(engine: Engine, account_id: int) -> None:
    with writing(engine) as conn:
        end_sessions(conn, account_id)


def set_role(engine: Engine, account_id: int, role: str, actor: str) -> Account:
    _check_role(role)
    with writing(engine) as conn:
        row = _locked_account(conn, account_id)
        if row.role == role:
            return _account(row)
        if role != "admin":
            _keep_an_admin(conn, row, f"make it {role}")
        conn.execute(update(User).where(User.id == account_id).values(role=role))
        end_sessions(conn, account_id)
        _audit(conn, actor, "role", account_id, "role", row.role, role)
        return _account(_locked_account(conn, account_id))


def set_disabled(engine: Engine, account_id: int, disabled: bool, actor: str) -> Account:
    with writing(engine) as conn:
        row = _locked_account(conn, account_id)
        if (row.disabled_at is not None) == disabled:
            return _account(row)
        if disabled:
            _keep_an_admin(conn, row, "disable it")
        conn.execute(update(User).where(User.id == account_id).values(disabled_at=_now() if disabled else None))
        end_sessions(conn, account_id)
        _audit(conn, actor, "disable" if disabled else "enable", account_id)
        return _account(_locked_account(conn, account_id))


def reset_password(engine: Engine, account_id: int, actor: str, password: str | None = None) -> str:
    """Give the account a new password (made here unless given) and end its sessions.

    Returns the password, to be passed on once; it is never stored or logged as given.
    The caller also clears the account's failed sign-ins (``SignInBrake.forget_account``).
    """
    password = check_password(password) if password is not None else new_password()
    with writing(engine) as conn:
        _locked_account(conn, account_id)
        conn.execute(update(User).where(User.id == account_id).values(
            password_hash=generate_password_hash(password, method="scrypt")))
        end_sessions(conn, account_id)
        _audit(conn, actor, "reset", account_id, "password")
    return password


def change_own_password(engine: Engine, account_id: int, current: str, new: str) -> None:
    check_password(new)
    with engine.connect() as conn:
        row = conn.execute(select(User.__table__).where(User.id == account_id)).first()
    if row is None or not check_password_hash(row.password_hash, current[:MAX_PASSWORD]):
        raise AccountError("the current password is not right: nothing was changed")
    with writing(engine) as conn:
        conn.execute(update(User).where(User.id == account_id).values(
            password_hash=generate_password_hash(new, method="scrypt")))
        end_sessions(conn, account_id)
        _audit(conn, row.email, "password", account_id, "password")


def remove_user(engine: Engine, account_id: int, actor: str) -> str:
    """Delete the account; its changes stay in the audit log under its email."""
    with writing(engine) as conn:
        row = _locked_account(conn, account_id)
        _keep_an_admin(conn, row, "remove it")
        conn.execute(delete(User).where(User.id == account_id))
        _audit(conn, actor, "remove", account_id, "email", row.email, None)
    return str(row.email)


# --- the sign-in brake ---------------------------------------------------------------

BRAKE_WINDOW = 15 * 60  # seconds a failed sign-in counts against its keys
LOGIN_ATTEMPTS = 5  # failed sign-ins per address and email
ADDRESS_ATTEMPTS = 20  # failed sign-ins per address, whatever the email
ACCOUNT_ATTEMPTS = 10  # failed sign-ins per account, from whatever addresses


class SignInBrake:
    """Brakes password guessing three ways: per client address and email (guessing one
    password), per address whatever the email (spraying one password over many accounts),
    and per email whatever the address (guessing one account from many addresses).

    An attempt is counted before its password is checked, so guesses sent in parallel all
    count. The per-email limit would let anyone lock a person out, so a browser that has
    signed in to that account before (``trusted``, a signed cookie the web app keeps) is
    let through it. Counts live in the database, shared by every server process and a
    restart, under keyed hashes: no address or email is stored, and an email with no
    account is counted the same as one with, so the brake tells no one which exist.
    """

    def __init__(self, engine: Engine, key: bytes) -> None:
        self.engine, self._key = engine, key

    def _keys(self, address: str, email: str) -> list[str]:
        email = normal_email(email)
        return [keyed_hash(self._key, f"address\n{address}"),
                keyed_hash(self._key, f"address+email\n{address}\n{email}"),
                keyed_hash(self._key, f"email\n{email}")]

    def attempt(self, address: str, email: str, trusted: bool = False) -> list[int] | None:
        """Count an attempt; None if it is braked (and then not counted), else its rows' ids."""
        keys = self._keys(address, email)
        counted = record_failed_sign_in(self.engine, keys)
        counts = failed_sign_ins(self.engine, keys)
        over = [counts[keys[0]] > ADDRESS_ATTEMPTS, counts[keys[1]] > LOGIN_ATTEMPTS,
                counts[keys[2]] > ACCOUNT_ATTEMPTS and not trusted]
        if any(over):
            _forget_rows(self.engine, counted)
            return None
        return counted

    def succeeded(self, address: str, email: str, counted: list[int]) -> None:
        """This attempt was no failure, and that email's counts are cleared; the address's
        others stay: one good password must not excuse a spray from the address."""
        _forget_rows(self.engine, counted)
        for key in self._keys(address, email)[1:]:
            forget_failed_sign_ins(self.engine, key)

    def forget_account(self, email: str) -> None:
        """After an admin's reset: the account's owner may try again at once."""
        forget_failed_sign_ins(self.engine, self._keys("", email)[2])


def failed_sign_ins(engine: Engine, keys: Sequence[str], now: float | None = None) -> dict[str, int]:
    """Failed sign-ins per key within the window: what the brake decides on."""
    since = (time.time() if now is None else now) - BRAKE_WINDOW
    with engine.connect() as conn:
        rows = conn.execute(select(FailedSignIn.key, func.count()).where(
            FailedSignIn.key.in_(keys), FailedSignIn.at > since).group_by(FailedSignIn.key)).all()
    found = {key: int(count) for key, count in rows}
    return {key: found.get(key, 0) for key in keys}


def record_failed_sign_in(engine: Engine, keys: Sequence[str], now: float | None = None) -> list[int]:
    """Count a failure against every key, and forget failures older than the window."""
    now = time.time() if now is None else now
    with writing(engine) as conn:
        conn.execute(delete(FailedSignIn).where(FailedSignIn.at <= now - BRAKE_WINDOW))
        return [int(conn.execute(insert(FailedSignIn).values(key=key, at=now).returning(FailedSignIn.id))
                    .scalar_one()) for key in keys]


def _forget_rows(engine: Engine, ids: Sequence[int]) -> None:
    with writing(engine) as conn:
        conn.execute(delete(FailedSignIn).where(FailedSignIn.id.in_(ids)))


def forget_failed_sign_ins(engine: Engine, key: str) -> None:
    with writing(engine) as conn:
        conn.execute(delete(FailedSignIn).where(FailedSignIn.key == key))
