"""Alerts: find what a person must look at, store each alert once, and send it to Slack, Microsoft Teams,
a generic webhook and/or email.

After every scheduled run (and on `tokenbooks alerts check`) the entity is examined: a failed run, a
run stuck `running` in a process that stopped (in the health page's words: `service/status.StuckRun`),
a ledger connection that needs reconnecting, spend in suspense, a reconciliation variance beyond
tolerance or drift, spend spikes against the trailing average, budgets reaching a soft threshold, and a
day a provider account's cost never came for (the close's rule: `service/close.missing_in`) once a week has passed since it,
so someone pulls it before the nightly's window leaves it behind (the close names it too).
Each alert is stored under its dedup key — the same alert is never sent twice for the same subject and
period — and sent until a channel accepts it. Every alert raised is also an event in the audit log.
"""

from __future__ import annotations

import smtplib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests

from connector.domain.accounting_policy import EntityPolicy
from connector.domain.alerts import Alert, crossings, parse_budgets, spikes
from connector.domain.errors import ConfigError
from connector.domain.journals import LedgerTarget
from connector.domain.missing_days import confirm_no_spend, first_day_read, read_again
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.service.close import missing_in
from connector.service.connections import reconnect_reason
from connector.service.policies import policy_history
from connector.service.pull import SourceStatus, entity_sources_status
from connector.service.status import (
    StuckRun,
    find_stuck_runs,
    last_booking_runs,
    runs_needing_a_look,
    stuck_claims_by_entity,
)
from connector.store.port import UnitOfWork
from connector.store.records import AlertRecord, RunRecord, StuckClaim

# ------------------------------------------------------------------------------------------------- find


def find_alerts(app: Any, entity: str) -> list[Alert]:
    day = app.clock().date() - timedelta(days=1)  # the last complete day
    settings = app.settings.alerts
    missing_rule = _missing_day_rule(app, entity)
    stuck_claims = stuck_claims_by_entity(app.store).get(entity, [])
    with app.store.unit_of_work() as uow:
        booking = last_booking_runs(uow).get(entity, [])  # the newest sync and close, as health reads them
        found = _failed_run(booking, entity) + _stuck_runs(booking, entity, stuck_claims)
        found += _reconnect(uow, entity, app.clock()) + _reconciliation(uow, entity)
        found += _suspense(uow, entity, Period.of(day), day)
        found += _held_for_approval(uow, entity)
        if missing_rule is not None:
            found += _missing_days(uow, entity, day, *missing_rule)
        found += _spikes(uow, entity, day, settings)
        if settings.budgets_file:
            found += _budgets(uow, entity, Period.of(day), settings.budgets_file)
    return found


def _failed_run(booking: list[RunRecord], entity: str) -> list[Alert]:
    """The newest sync and close of the entity that need a look, as the health page reads them: a run
    that books nothing (a pull, an import, a dry run) neither clears nor hides a bad night."""
    return [_run_alert(last, entity) for last in runs_needing_a_look(booking)]


def _stuck_runs(booking: list[RunRecord], entity: str, stuck_claims: list[StuckClaim]) -> list[Alert]:
    """The entity's runs stuck `running` in a process that stopped, as the health page finds and says
    them: each raised once (its subject is the run)."""
    return [_stuck_alert(stuck, entity) for stuck in find_stuck_runs(booking, stuck_claims)]


def _stuck_alert(stuck: StuckRun, entity: str) -> Alert:
    message, action = stuck.words(entity)
    return Alert(
        "run_stuck",
        entity,
        stuck.run.id,
        f"{stuck.run.started_at:%Y-%m-%d}",
        message,
        action,
        "error",
        {"run_id": stuck.run.id, "holder": stuck.owner},
    )


def _run_alert(last: RunRecord, entity: str) -> Alert:
    # partial: the ledger failed mid-post, or a source refused some days (the reason says which)
    what = "did only part of its work" if last.status == "partial" else last.status
    return Alert(
        "run_partial" if last.status == "partial" else "run_failed",
        entity,
        last.kind,
        f"{last.started_at:%Y-%m-%d}",
        f"The {last.kind} run of {entity} {what}: {last.reason}",
        f"Read `tokenbooks runs --run {last.id}` and fix what it names; the next run posts what waits in "
        "the outbox, and no journal is ever posted in part or twice (each is looked up in the ledger "
        "before it is created again).",
        "error",
        {"run_id": last.id},
    )


def _held_for_approval(uow: UnitOfWork, entity: str) -> list[Alert]:
    """Journals the accounting policies hold for a controller (issue 5): each one, once."""
    return [
        Alert(
            "held_for_approval",
            entity,
            held.journal.key,
            f"{held.journal.txn_date:%Y-%m}",
            f"{held.journal.key} ({held.journal.kind.value}, {held.journal.txn_date}) waits for approval: "
            f"{held.hold_reason}",
            f"Review it (`tokenbooks sync --json` lists it) and release it with `tokenbooks approve "
            f"{held.journal.key} --by <your name>`, or fix what held it; nothing is posted meanwhile.",
            "warning",
            {"key": held.journal.key},
        )
        for held in uow.outbox.list(entity, statuses=["held"])
    ]


def _reconnect(uow: UnitOfWork, entity: str, now: datetime) -> list[Alert]:
    needed = [(row, reconnect_reason(row, now)) for row in uow.connections.for_entity(entity)]
    return [
        Alert(
            "reconnect_needed",
            entity,
            row.ledger,
            f"{row.updated_at:%Y-%m-%d}",
            f"The {row.ledger} connection of {entity} needs a person: {reason}",
            f"Run `tokenbooks connect {row.ledger} --entity {entity}` and approve tokenbooks again; "
            "nothing is posted until then.",
            "error",
        )
        for row, reason in needed
        if reason is not None
    ]


def _reconciliation(uow: UnitOfWork, entity: str) -> list[Alert]:
    period = uow.reconciliations.latest_period(entity)
    latest = uow.reconciliations.latest(entity, period) if period else []
    return [
        Alert(
            "reconciliation_variance",
            entity,
            f"{r.provider}/{r.provider_account}",
            r.period,
            f"Reconciliation of {r.provider} ({r.provider_account}) for {r.period}: {r.status}"
            + (f", invoice − cost {r.variance} {r.currency}" if r.variance is not None else ""),
            "Run `tokenbooks reconcile --period "
            f"{r.period} --entity {entity}` to see the findings: drift names the journal keys changed or "
            "deleted in the ledger (a deleted one is posted again by the next sync); a variance beyond "
            "tolerance needs the invoice checked for unitemized tax, credits or another period's usage; an "
            "unknown_account is an invoice for an account no source knows: correct its account and import it "
            "again.",
            "error" if r.status == "drift" else "warning",
        )
        for r in latest
        if r.status in ("variance", "drift", "unknown_account")
    ]


def _suspense(uow: UnitOfWork, entity: str, period: Period, day: date) -> list[Alert]:
    """Spend of the period in suspense so far. Raised once a period: the message says up to which day its
    amount runs, so it is not read as the month's total (the overview and the close show that)."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for a in uow.allocations.between(entity, period.first_day, period.last_day):
        if a.category == "suspense":
            totals[a.provider][a.currency] += a.amount
    return [
        Alert(
            "suspense",
            entity,
            provider,
            str(period),
            # each amount in its currency: the provider's, which need not be the books' (converted books)
            f"{_amounts(by_currency)} of {provider} spend in {period} (up to {day}) matched no mapping rule "
            "and sits in suspense",
            "Add a rule for it to the mapping (`tokenbooks mappings preview` shows what it is); the next sync "
            "reclassifies it out of suspense.",
        )
        for provider, by_currency in sorted(totals.items())
        if any(by_currency.values())
    ]


MISSING_AFTER_DAYS = 7  # a day's cost not there a week later: past the lag any provider needs
MISSING_WITHIN_DAYS = 35  # days older than that were the last close's to name


def _missing_day_rule(app: Any, entity: str) -> tuple[list[SourceStatus], EntityPolicy] | None:
    """What the close's rule (`service/close.missing_in`) reads beside the facts: the entity's sources and
    its policies as they stand now. None when the mapping or the policies are refused: the night's run
    failed on them and its alert says so; the days are named once they are mended (within five weeks)."""
    try:
        return entity_sources_status(app, entity), policy_history(app).current.entity(entity)
    except ConfigError:
        return None


def _missing_days(
    uow: UnitOfWork, entity: str, day: date, statuses: list[SourceStatus], in_force: EntityPolicy
) -> list[Alert]:
    """The days, a week to five weeks old, a provider account's cost never came for and the controller
    has not confirmed idle, by the close's rule and with its fix: each raised once."""
    latest, earliest = day - timedelta(days=MISSING_AFTER_DAYS), day - timedelta(days=MISSING_WITHIN_DAYS)
    found = []
    for period in dict.fromkeys((Period.of(earliest), Period.of(latest))):  # one month, or two
        cost_days = uow.facts.cost_days(entity, first_day_read(period), period.last_day)
        missing, _ = missing_in(cost_days, period, statuses=statuses, in_force=in_force)
        found += [m for m in missing if earliest <= m.day <= latest]
    return [
        Alert(
            "missing_day",
            entity,
            f"{m.provider}/{m.provider_account}",
            str(m.day),
            f"{m.provider} {m.provider_account}: no cost for {m.day}, though it has cost on every {m.day:%A} of "
            "the weeks before — the provider may deliver it late, after the nightly stops reading it again",
            f"{read_again(m)} once the provider has delivered it; or, {confirm_no_spend(m.day)}. The close of "
            f"{m.day:%Y-%m} names it until then.",
        )
        for m in found
    ]


def _amounts(by_currency: dict[str, Decimal]) -> str:
    """'1.25 USD', or '1.25 USD and 3.00 EUR': each non-zero amount with its currency."""
    return " and ".join(
        f"{quantize(amount, currency)} {currency}"
        for currency, amount in sorted(by_currency.items())
        if amount
    )


def _spikes(uow: UnitOfWork, entity: str, day: date, settings: Any) -> list[Alert]:
    first = day - timedelta(days=settings.spike_window_days)
    daily: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for stored in uow.facts.current(entity, first, day):
        value = stored.fact.dimension(settings.spike_dimension)
        if value:
            daily[value][stored.fact.posting_date] += stored.fact.amount
    found = spikes(
        daily,
        day,
        window_days=settings.spike_window_days,
        factor=settings.spike_factor,
        min_amount=settings.spike_min_amount,
    )
    return [
        Alert(
            "spend_spike",
            entity,
            f"{settings.spike_dimension}={s.value}",
            day.isoformat(),
            f"{settings.spike_dimension} {s.value} spent {quantize(s.amount, 'USD')} on {day}, "
            f"{settings.spike_factor}× above its {settings.spike_window_days}-day average of {s.average}",
            f"Ask the owner of {s.value} whether this is expected (a launch, a batch job) or a runaway "
            "loop or leaked key; the provider's console shows the usage by key and model.",
            data={"amount": str(s.amount), "average": str(s.average)},
        )
        for s in found
    ]


def _budgets(uow: UnitOfWork, entity: str, period: Period, path: Path) -> list[Alert]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(
            f"budgets file {path} cannot be read: {exc}", fix="fix TOKENBOOKS_ALERTS__BUDGETS_FILE"
        ) from None
    budgets, problems = parse_budgets(text, str(path))
    if problems:
        raise ConfigError(f"budgets file {path} has problems", problems=problems, fix="correct the file")
    spent: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for a in uow.allocations.between(entity, period.first_day, period.last_day):
        target = LedgerTarget.from_key(a.target_key)
        for center in {target.class_name, target.department, *(opt for _, opt in target.tracking)} - {None}:
            spent[center] += a.amount  # type: ignore[index]
    return [
        Alert(
            "budget",
            entity,
            f"{c.budget.cost_center}@{c.threshold}%",
            str(period),
            f"{c.budget.cost_center} has spent {quantize(c.spent, 'USD')} of its {c.budget.monthly} budget for "
            f"{period} ({c.spent * 100 / c.budget.monthly:.0f}%, past the {c.threshold}% threshold)",
            f"Tell the owner of {c.budget.cost_center}; raise the budget in {path} if the spend is planned.",
            "error" if c.threshold >= 100 else "warning",
        )
        for c in crossings(spent, budgets)
    ]


# ----------------------------------------------------------------------------------------- store, send


def raise_alerts(
    app: Any, entity: str, run_id: str | None = None, notifier: Notifier | None = None
) -> list[AlertRecord]:
    """Store the alerts not raised before, log them, and send every alert not yet delivered (through
    `notifier`, by default the channels the settings name)."""
    now = app.clock()
    with app.store.unit_of_work() as uow:
        known = uow.alerts.dedup_keys()
        for alert in find_alerts(app, entity):
            if alert.dedup_key in known:
                continue
            known.add(alert.dedup_key)
            uow.alerts.add(alert, now=now, run_id=run_id)
            uow.events.append(
                f"alert.{alert.kind}",
                alert.message,
                run_id=run_id,
                actor=app.actor,
                level=alert.severity,
                data={"dedup_key": alert.dedup_key, "action": alert.action},
                now=now,
            )
        uow.commit()
    return send_pending(app, notifier)


def send_pending(app: Any, notifier: Notifier | None = None) -> list[AlertRecord]:
    """Send each stored alert no channel has accepted yet; returns the alerts sent now."""
    notifier = notifier or Notifier.from_settings(app.settings.alerts)
    if not notifier.channels:
        return []
    sent = []
    with app.store.unit_of_work() as uow:
        for alert in uow.alerts.unsent():
            delivered, error = notifier.send(alert)
            sent_at = app.clock() if delivered else None
            uow.alerts.delivered(alert.id, delivered, error, sent_at)
            if delivered:
                sent.append(replace(alert, channels=delivered, last_error=error, sent_at=sent_at))
        uow.commit()
    return sent


@dataclass
class Notifier:
    """The channels alerts go to: a generic (Slack-compatible) webhook, Slack, Microsoft Teams, email."""

    webhook_url: str | None = None
    smtp: dict | None = None  # host, port, username, password, starttls, sender, recipients
    timeout: float = 10.0  # float ok: seconds
    slack_url: str | None = None
    teams_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Notifier:
        smtp = None
        if settings.smtp_host and settings.email_to:
            smtp = {
                "host": settings.smtp_host,
                "port": settings.smtp_port,
                "username": settings.smtp_username,
                "password": settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                "starttls": settings.smtp_starttls,
                "sender": settings.email_from or "tokenbooks@localhost",
                "recipients": [r.strip() for r in settings.email_to.split(",") if r.strip()],
            }

        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value else None

        return cls(
            secret(settings.webhook_url),
            smtp,
            slack_url=secret(settings.slack_webhook_url),
            teams_url=secret(settings.teams_webhook_url),
        )

    def _senders(self) -> list[tuple[str, Any, Callable[[AlertRecord], None]]]:
        return [
            ("webhook", self.webhook_url, self._webhook),
            ("slack", self.slack_url, self._slack),
            ("teams", self.teams_url, self._teams),
            ("email", self.smtp, self._email),
        ]

    @property
    def channels(self) -> list[str]:
        return [name for name, configured, _ in self._senders() if configured]

    def send(self, alert: AlertRecord) -> tuple[list[str], str | None]:
        delivered, errors = [], []
        for channel, configured, send in self._senders():
            if not configured:
                continue
            try:
                send(alert)
                delivered.append(channel)
            except (requests.RequestException, OSError, smtplib.SMTPException) as exc:
                errors.append(f"{channel}: {type(exc).__name__}: {exc}")  # redacted when stored
        return delivered, "; ".join(errors) or None

    def _post(self, url: str | None, body: dict) -> None:
        response = requests.post(url or "", json=body, timeout=self.timeout)
        response.raise_for_status()

    def _webhook(self, alert: AlertRecord) -> None:
        icon = {"error": ":red_circle:", "warning": ":warning:"}.get(alert.severity, ":information_source:")
        text = f"{icon} *tokenbooks — {alert.kind.replace('_', ' ')}* ({alert.entity})\n{alert.message}\n*What to do:* {alert.action}"
        self._post(self.webhook_url, {"text": text})

    def _slack(self, alert: AlertRecord) -> None:
        """Slack incoming webhook: Block Kit sections, and `text` for notifications and old clients."""
        icon = {"error": ":red_circle:", "warning": ":warning:"}.get(alert.severity, ":information_source:")
        title = f"{icon} tokenbooks — {alert.kind.replace('_', ' ')} ({alert.entity})"
        self._post(
            self.slack_url,
            {
                "text": f"{title}: {alert.message}",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": alert.message[:3000]}},
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": f"*What to do:* {alert.action}"[:3000]},
                    },
                    {
                        "type": "context",
                        "elements": [
                            {"type": "mrkdwn", "text": f"{alert.subject} · {alert.period} · {alert.severity}"}
                        ],
                    },
                ],
            },
        )

    def _teams(self, alert: AlertRecord) -> None:
        """Microsoft Teams Workflows webhook: a message carrying one Adaptive Card (schema 1.4)."""
        colour = {"error": "attention", "warning": "warning"}.get(alert.severity, "default")
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "text": f"tokenbooks — {alert.kind.replace('_', ' ')} ({alert.entity})",
                    "weight": "Bolder",
                    "size": "Medium",
                    "color": colour,
                    "wrap": True,
                },
                {"type": "TextBlock", "text": alert.message, "wrap": True},
                {
                    "type": "FactSet",
                    "facts": [
                        {"title": "What to do", "value": alert.action},
                        {"title": "Subject", "value": alert.subject},
                        {"title": "Period", "value": alert.period},
                    ],
                },
            ],
        }
        self._post(
            self.teams_url,
            {
                "type": "message",
                "attachments": [
                    {
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "contentUrl": None,
                        "content": card,
                    }
                ],
            },
        )

    def _email(self, alert: AlertRecord) -> None:
        smtp = self.smtp or {}
        message = EmailMessage()
        message["Subject"] = f"[tokenbooks] {alert.kind.replace('_', ' ')}: {alert.subject} ({alert.period})"
        message["From"] = smtp["sender"]
        message["To"] = ", ".join(smtp["recipients"])
        message.set_content(f"{alert.message}\n\nWhat to do: {alert.action}\n\nEntity: {alert.entity}\n")
        with smtplib.SMTP(smtp["host"], smtp["port"], timeout=self.timeout) as client:
            if smtp["starttls"]:
                client.starttls()
            if smtp["username"]:
                client.login(smtp["username"], smtp["password"] or "")
            client.send_message(message)
