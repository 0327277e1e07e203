"""The console's people in the store: `UserRepository`, bound to a unit of work as `uow.users`.

Rows (`tables.UserRow`) stay here; callers get `domain.users.User`, frozen. Names are unique; a user is
never deleted, only disabled, so the audit log's actors always name someone the store still knows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from connector.domain.users import Role, User
from connector.store.tables import UserRow


def _user(row: UserRow) -> User:
    return User(
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        active=row.active,
        created_at=row.created_at,
        email=row.email,
        password_hash=row.password_hash,
        oidc_subject=row.oidc_subject,
        last_login_at=row.last_login_at,
        disabled_at=row.disabled_at,
        sessions_ended_at=row.sessions_ended_at,
    )


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, username: str) -> UserRow | None:
        return self.session.exec(select(UserRow).where(col(UserRow.username) == username)).first()

    def get(self, username: str) -> User | None:
        row = self._row(username)
        return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        query = select(UserRow).where(func.lower(col(UserRow.email)) == email.strip().lower())
        row = self.session.exec(query).first()
        return _user(row) if row else None

    def by_subject(self, subject: str) -> User | None:
        row = self.session.exec(select(UserRow).where(col(UserRow.oidc_subject) == subject)).first()
        return _user(row) if row else None

    def all(self) -> list[User]:
        return [_user(r) for r in self.session.exec(select(UserRow).order_by(col(UserRow.username)))]

    def add(self, user: User) -> None:
        self.session.add(
            UserRow(
                username=user.username,
                display_name=user.display_name,
                email=user.email,
                role=user.role.value,
                password_hash=user.password_hash,
                oidc_subject=user.oidc_subject,
                active=user.active,
                created_at=user.created_at,
                updated_at=user.created_at,
            )
        )
        self.session.flush()

    def update(self, username: str, now: datetime, **values: object) -> User:
        """Change the named fields (role, active, password_hash, oidc_subject, last_login_at, disabled_at,
        sessions_ended_at)."""
        row = self._row(username)
        if row is None:
            raise KeyError(username)
        for name, value in values.items():
            setattr(row, name, value.value if isinstance(value, Role) else value)
        row.updated_at = now
        self.session.add(row)
        self.session.flush()
        return _user(row)
