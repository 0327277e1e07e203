"""The console's people: who they are, the role each holds, and what each role may do.

Four roles, as the teams that use tokenbooks divide the work:

- **auditor** (also called viewer): reads everything and downloads exports; changes nothing;
- **accountant**: runs the sync and the month-end close, imports files;
- **controller**: edits the mapping and the accounting policies;
- **approver**: releases journals held for approval.

Every role reads every page. Segregation of duties (on by default) is a separate rule, applied to
approvals: whoever changed the mapping or the policies a held journal was planned under, or ran the sync
that planned it, cannot approve it (`approval_conflict`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    AUDITOR = "auditor"
    ACCOUNTANT = "accountant"
    CONTROLLER = "controller"
    APPROVER = "approver"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.AUDITOR: "Viewer / auditor",
    Role.ACCOUNTANT: "Accountant",
    Role.CONTROLLER: "Controller",
    Role.APPROVER: "Approver",
}
ROLE_ALIASES = {"viewer": Role.AUDITOR}  # the "viewer/auditor" is one role


class Permission(StrEnum):
    VIEW = "view"  # every page
    EXPORT = "export"  # the auditor's downloads
    SYNC = "sync"  # run a sync now
    CLOSE = "close"  # run the month-end close
    IMPORT = "import"  # import invoices, credits, FOCUS files
    EDIT_MAPPINGS = "edit_mappings"
    EDIT_POLICIES = "edit_policies"
    APPROVE = "approve"  # release held journals


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AUDITOR: frozenset({Permission.VIEW, Permission.EXPORT}),
    Role.ACCOUNTANT: frozenset(
        {Permission.VIEW, Permission.EXPORT, Permission.SYNC, Permission.CLOSE, Permission.IMPORT}
    ),
    Role.CONTROLLER: frozenset(
        {Permission.VIEW, Permission.EXPORT, Permission.EDIT_MAPPINGS, Permission.EDIT_POLICIES}
    ),
    Role.APPROVER: frozenset({Permission.VIEW, Permission.EXPORT, Permission.APPROVE}),
}

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,62}$")


def parse_role(text: str) -> Role:
    """A role by its name (or the alias `viewer`); ValueError naming the roles otherwise."""
    name = text.strip().lower()
    if name in ROLE_ALIASES:
        return ROLE_ALIASES[name]
    try:
        return Role(name)
    except ValueError:
        known = ", ".join([*(r.value for r in Role), *ROLE_ALIASES])
        raise ValueError(f"there is no role {text!r}: use one of {known}") from None


def username_problem(username: str) -> str | None:
    """Why `username` cannot name a console user, or None."""
    if USERNAME.match(username):
        return None
    return (
        f"{username!r} is not a user name: use 2 to 63 lower-case letters, digits, '.', '_', '-' or '@', "
        "starting with a letter or digit"
    )


@dataclass(frozen=True, slots=True)
class User:
    """A console user as the store holds them (the password only as its argon2 hash)."""

    username: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime
    email: str | None = None
    password_hash: str | None = None  # None: signs in through single sign-on only
    oidc_subject: str | None = None  # the identity provider's `sub`, bound at the first SSO sign-in
    last_login_at: datetime | None = None
    disabled_at: datetime | None = None
    # every session signed in before this moment is over: the user signed out, was disabled, or was given
    # a new password (sessions are signed cookies, so a copy of one lives on unless the store says so)
    sessions_ended_at: datetime | None = None

    def can(self, permission: Permission) -> bool:
        return self.active and permission in ROLE_PERMISSIONS[self.role]

    def session_open(self, signed_in_at: datetime) -> bool:
        """Whether a session this user signed in to at `signed_in_at` may still be used."""
        return self.active and (self.sessions_ended_at is None or signed_in_at > self.sessions_ended_at)

    @property
    def name(self) -> str:
        """How the user is written in the audit log and on pages."""
        return self.display_name or self.username


# ------------------------------------------------------------------------------- segregation of duties


@dataclass(frozen=True, slots=True)
class Involvement:
    """Someone's part in producing a journal: who, and what they did (shown when an approval is refused)."""

    actor: str
    what: str  # "ran sync run 1a2b…", "saved mapping version 3"


def approval_conflict(approver: str, involved: Iterable[Involvement]) -> Involvement | None:
    """The part `approver` had in producing a journal (then they may not approve it), or None.

    Actors are compared case-insensitively: the console writes `alice`, a CLI `--by Alice`."""
    mine = approver.strip().casefold()
    return next((i for i in involved if i.actor.strip().casefold() == mine), None)
