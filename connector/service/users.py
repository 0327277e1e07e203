"""Console users: added, listed, disabled and given a role with `tokenbooks users …`; signed in by password
(argon2id) or single sign-on. Every change to a user is an event in the hash-chained audit log, with who
made it (the console user, or on the command line the OS user or `--by`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from connector.domain.errors import ConfigError, InputError
from connector.domain.users import Role, User, username_problem
from connector.store.port import Store

Clock = Callable[[], datetime]
MIN_PASSWORD = 12  # NIST SP 800-63B asks for at least 8; a console that posts to the books asks more
_hasher = PasswordHasher()  # argon2id with the library's current parameters (RFC 9106's second choice)


@cache
def dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name takes as long as a wrong password.
    Made at the first sign-in, not at import: every CLI command imports this module."""
    return _hasher.hash("tokenbooks: no such user")


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password has {len(password)} characters: use at least {MIN_PASSWORD}"
    return None


def add_user(
    store: Store,
    clock: Clock,
    *,
    username: str,
    role: Role,
    by: str,
    password: str | None = None,
    display_name: str = "",
    email: str | None = None,
) -> User:
    """A new console user (a password, or none for single sign-on only); refused if the name is taken."""
    if problem := username_problem(username):
        raise InputError(problem, fix="choose another user name")
    if password is not None and (problem := password_problem(password)):
        raise InputError(problem, fix="choose a longer password (a passphrase of a few words is good)")
    if password is None and not email:
        raise InputError(
            f"user {username} would have no password and no e-mail address to sign in with single sign-on",
            fix="give --password (or --password-stdin), or --email for single sign-on",
        )
    now = clock()
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role,
        active=True,
        created_at=now,
        email=email.strip() if email else None,
        password_hash=_hasher.hash(password) if password is not None else None,
    )
    with store.unit_of_work() as uow:
        if uow.users.get(username) is not None:
            raise InputError(f"there is already a user {username}", fix="choose another name, or set-role")
        uow.users.add(user)
        uow.events.append(
            "user.added",
            f"console user {username} added as {role.label} by {by}",
            actor=by,
            data={
                "username": username,
                "role": role.value,
                "email": user.email,
                "sso_only": password is None,
            },
            now=now,
        )
        uow.commit()
    return user


def list_users(store: Store) -> list[User]:
    with store.unit_of_work() as uow:
        return uow.users.all()


def get_user(store: Store, username: str) -> User | None:
    with store.unit_of_work() as uow:
        return uow.users.get(username)


def set_role(store: Store, clock: Clock, *, username: str, role: Role, by: str) -> User:
    return _change(
        store, clock, username, by, "user.role_changed", f"now {role.label}", {"role": role.value}, role=role
    )


def disable_user(store: Store, clock: Clock, *, username: str, by: str) -> User:
    """Disabled users cannot sign in, and their open sessions end for good (enabled again, they sign in)."""
    now = clock()
    return _change(
        store,
        clock,
        username,
        by,
        "user.disabled",
        "disabled",
        {},
        active=False,
        disabled_at=now,
        sessions_ended_at=now,
    )


def enable_user(store: Store, clock: Clock, *, username: str, by: str) -> User:
    return _change(store, clock, username, by, "user.enabled", "enabled", {}, active=True, disabled_at=None)


def set_password(store: Store, clock: Clock, *, username: str, password: str, by: str) -> User:
    if problem := password_problem(password):
        raise InputError(problem, fix="choose a longer password")
    return _change(
        store,
        clock,
        username,
        by,
        "user.password_set",
        "password set",
        {},
        password_hash=_hasher.hash(password),
        sessions_ended_at=clock(),  # a password reset because it leaked must not leave the thief's session
    )


def sign_out(store: Store, clock: Clock, username: str, *, address: str = "") -> User:
    """End every console session of `username` (the console's sessions are signed cookies: only the store
    can say that a copy of one kept elsewhere is over)."""
    data = {"address": address}
    return _change(
        store, clock, username, username, "user.signed_out", "signed out", data, sessions_ended_at=clock()
    )


def _change(
    store: Store, clock: Clock, username: str, by: str, kind: str, what: str, data: dict, **values: object
) -> User:
    now = clock()
    with store.unit_of_work() as uow:
        if uow.users.get(username) is None:
            raise InputError(f"there is no console user {username}", fix="see `tokenbooks users list`")
        user = uow.users.update(username, now, **values)
        uow.events.append(
            kind,
            f"console user {username} {what} by {by}",
            actor=by,
            data={"username": username, **data},
            now=now,
        )
        uow.commit()
    return user


# ---------------------------------------------------------------------------------------------- sign-in


def authenticate(
    store: Store, clock: Clock, username: str, password: str, *, address: str = ""
) -> User | None:
    """The user if the name and password match an active user (their sign-in recorded), else None.

    Takes the same time for an unknown name as for a wrong password (the dummy hash), so the answer
    does not tell which names exist."""
    user = get_user(store, username.strip().lower())
    stored = user.password_hash if user and user.password_hash else dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active or user.password_hash is None:
        return None
    rehash = _hasher.check_needs_rehash(user.password_hash)
    return _signed_in(
        store, clock, user, "password", address, password_hash=_hasher.hash(password) if rehash else None
    )


def sso_user(
    store: Store, clock: Clock, *, subject: str, email: str | None, issuer: str, address: str = ""
) -> User:
    """The user an identity provider vouched for: bound by `sub` after the first sign-in, found by e-mail
    address the first time. Nobody gets in without being added first (the role is tokenbooks' to give)."""
    with store.unit_of_work() as uow:
        user = uow.users.by_subject(f"{issuer}|{subject}")
        if user is None and email:
            user = uow.users.by_email(email)
            if user is not None and user.oidc_subject not in (None, f"{issuer}|{subject}"):
                user = None  # that address belongs to another identity at the provider
    if user is None:
        raise ConfigError(
            f"{email or subject} signed in at the identity provider but is not a tokenbooks user",
            fix="ask an administrator to run `tokenbooks users add NAME --email ADDRESS --role ROLE`",
        )
    if not user.active:
        raise ConfigError(
            f"console user {user.username} is disabled", fix="ask an administrator to enable it"
        )
    return _signed_in(store, clock, user, "single sign-on", address, oidc_subject=f"{issuer}|{subject}")


def _signed_in(store: Store, clock: Clock, user: User, how: str, address: str, **values: object) -> User:
    now = clock()
    changes = {k: v for k, v in values.items() if v is not None}
    with store.unit_of_work() as uow:
        user = uow.users.update(user.username, now, last_login_at=now, **changes)
        uow.events.append(
            "user.signed_in",
            f"{user.username} signed in to the console ({how})",
            actor=user.username,
            data={"username": user.username, "method": how, "address": address},
            now=now,
        )
        uow.commit()
    return user
