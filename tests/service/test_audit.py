"""The auditor's trail: the chain proves itself (and names the event tampered with), concurrent writers
cannot fork it, a posted line traces to the raw provider payload, and a period exports whole, secrets out."""

from __future__ import annotations

import csv
import json
import threading
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from connector.cli import app as cli
from connector.domain.errors import InputError
from connector.domain.periods import Period
from connector.domain.planner import LockedBehaviour
from connector.service.approvals import approve_journal
from connector.service.audit import trace, verify_chain
from connector.service.audit_files import write_export
from connector.service.audit_package import period_export
from connector.service.sync import sync
from connector.settings import secret_values
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.service.test_reconcile import invoice, reconcile
from tests.test_cli import tokenbooks_with

OCT = Period(2026, 10)


def month(world: World) -> None:
    world.source.set("120.00", date(2026, 10, 1))
    world.source.set("30.00", date(2026, 10, 1), project="proj_shared", line_item="embeddings")
    world.source.set("15.50", date(2026, 10, 2))
    world.clock.night_after(date(2026, 10, 2))
    assert sync(world.app, entity="acme-us", until=date(2026, 10, 2)).status == "succeeded"


def events(world: World) -> list:
    with UnitOfWork(world.app.engine) as uow:
        return uow.events.all()


def tamper(world: World, sql: str, **params) -> None:
    with world.app.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_an_untouched_log_verifies(world: World):
    month(world)
    report = verify_chain(world.app.store)
    assert report.intact
    assert report.events == len(events(world)) > 10
    assert report.head_hash == events(world)[-1].hash


def test_an_altered_event_is_named(world: World):
    month(world)
    target = next(e for e in events(world) if e.kind == "posting.attempt")
    tamper(world, "UPDATE events SET message = 'nothing to see' WHERE id = :id", id=target.id)
    [problem] = verify_chain(world.app.store).problems
    assert (problem.event_id, problem.problem) == (target.id, "altered")
    assert f"event {target.id} (posting.attempt" in problem.message


def test_a_level_quietly_downgraded_is_caught_too(world: World):
    month(world)
    target = events(world)[3]
    tamper(world, "UPDATE events SET level = 'debug' WHERE id = :id", id=target.id)
    assert [p.event_id for p in verify_chain(world.app.store).problems] == [target.id]


def test_an_altered_event_whose_hash_was_recomputed_breaks_the_next_link(world: World):
    month(world)
    target = events(world)[4]
    tamper(world, "UPDATE events SET hash = :h WHERE id = :id", h="f" * 64, id=target.id)
    problems = verify_chain(world.app.store).problems
    assert {(p.event_id, p.problem) for p in problems} >= {(target.id, "altered"), (target.id, "relinked")}


def test_a_deleted_event_is_found_between_its_neighbours(world: World):
    month(world)
    all_events = events(world)
    gone = all_events[5]
    tamper(world, "DELETE FROM events WHERE id = :id", id=gone.id)
    [problem] = verify_chain(world.app.store).problems
    assert problem.problem == "missing"
    assert f"between {all_events[4].id} and {all_events[6].id} were deleted" in problem.message


def test_deleting_the_newest_event_is_found_through_the_chain_head(world: World):
    month(world)
    newest = events(world)[-1]
    tamper(world, "DELETE FROM events WHERE id = :id", id=newest.id)
    problem, *rest = verify_chain(world.app.store).problems
    assert problem.problem == "truncated"
    assert f"names event {newest.id}" in problem.message
    assert [p.problem for p in rest] == ["run-altered"]  # the deleted event had ended the last run


def test_an_anchor_catches_a_chain_rewritten_from_scratch(world: World):
    month(world)
    anchor = verify_chain(world.app.store).head_hash
    tamper(world, "DELETE FROM events")
    tamper(world, "UPDATE audit_chain SET last_event_id = 0, last_hash = :g, events = 0", g="0" * 64)
    # an empty chain is consistent with itself, but the runs, mapping versions and commitment index rows
    # no event records …
    assert {p.problem for p in verify_chain(world.app.store).problems} == {
        "run-altered",
        "version-altered",
        "index-altered",
    }
    tamper(world, "DELETE FROM runs")
    tamper(world, "DELETE FROM mapping_versions")
    tamper(world, "DELETE FROM commitment_index")
    assert verify_chain(world.app.store).intact  # … and with those gone too, only an anchor tells …
    [problem] = verify_chain(world.app.store, anchors=frozenset({anchor})).problems
    assert problem.problem == "rewritten"  # … the chain from what the auditor kept


def test_concurrent_writers_append_one_after_the_other_and_never_fork_the_chain(world: World):
    def write(name: str) -> None:
        for n in range(25):
            with UnitOfWork(world.app.engine) as uow:
                uow.events.append("test.write", f"{name} {n}", data={"n": n})
                uow.commit()

    threads = [threading.Thread(target=write, args=(f"writer {i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_chain(world.app.store)
    assert report.intact, report.problems
    assert report.events == 100
    assert len({e.prev_hash for e in events(world)}) == 100  # no two events claim the same predecessor


def test_an_amount_changed_on_a_booked_line_is_named(world: World):
    month(world)
    assert verify_chain(world.app.store).journals == 2
    tamper(
        world,
        "UPDATE journal_lines SET amount = amount + 100 WHERE line_no = 2 AND journal_id = "
        "(SELECT id FROM journals WHERE key = 'TB-AC-261001-001')",
    )
    [problem] = verify_chain(world.app.store).problems
    assert problem.problem == "line-altered"
    assert problem.message.startswith("journal TB-AC-261001-001 of acme-us (committed by event ")
    assert "line 2 was altered" in problem.message


def test_a_deleted_line_a_deleted_journal_and_a_changed_ledger_id_are_named(world: World):
    month(world)
    tamper(
        world,
        "DELETE FROM journal_lines WHERE line_no = 1 AND journal_id = (SELECT id FROM journals WHERE key = 'TB-AC-261002-001')",
    )
    tamper(world, "UPDATE journals SET ledger_id = 'forged' WHERE key = 'TB-AC-261001-001'")
    tamper(world, "UPDATE journals SET memo = 'nothing to see' WHERE key = 'TB-AC-261002-001'")
    found = {(p.problem, p.message.split(" (")[0]) for p in verify_chain(world.app.store).problems}
    assert ("posting-altered", "journal TB-AC-261001-001 of acme-us") in found
    assert ("journal-altered", "journal TB-AC-261002-001 of acme-us") in found
    assert ("line-altered", "journal TB-AC-261002-001 of acme-us") in found  # line 1 gone: the rest moved up
    with world.app.engine.begin() as connection:
        connection.execute(text("DELETE FROM contributions"))
        connection.execute(text("DELETE FROM posting_attempts"))
        connection.execute(text("DELETE FROM journal_lines"))
        connection.execute(text("DELETE FROM journals"))
    problems = verify_chain(world.app.store).problems
    assert sorted(p.problem for p in problems) == ["journal-missing", "journal-missing"]


def add_journal_by_hand(world: World) -> None:
    """A journal inserted in the outbox behind the log, made to look like one of ours (planned for posting)."""
    tamper(
        world,
        "INSERT INTO journals (entity, ledger, key, kind, txn_date, currency, memo, provider, provider_account, "
        "status, generation, attempts, created_at) VALUES ('acme-us', 'quickbooks', 'TB-AC-261002-099', "
        "'usage_accrual', '2026-10-02', 'USD', 'looks like ours', 'openai', 'org-1', 'planned', 0, 0, "
        "'2026-10-03')",
    )


def test_a_journal_added_behind_the_log_is_named_and_one_the_chain_committed_is_not(world: World):
    month(world)
    add_journal_by_hand(world)
    [problem] = verify_chain(world.app.store).problems  # the next sync would have posted it
    assert problem.problem == "journal-added"
    assert problem.message.startswith("journal TB-AC-261002-099 of acme-us (planned, dated 2026-10-02) is in")
    assert "no event committed it" in problem.message


def test_the_next_sync_refuses_to_post_a_journal_added_or_altered_behind_the_log(world: World):
    """Verify names it, but the nightly run came first: it sent the ledger a journal no plan booked."""
    world.ledger.lock = date(2026, 10, 31)  # the month is closed before the 2nd is posted: held, not posted
    world.app.locked_behaviour = lambda entity: LockedBehaviour.HOLD
    month(world)
    with UnitOfWork(world.app.engine) as uow:
        held = [s.journal.key for s in uow.outbox.list("acme-us", statuses=["held"])]
    assert held == ["TB-AC-261001-001", "TB-AC-261002-001"]
    add_journal_by_hand(world)
    for number, (account, amount) in enumerate((("6110", "100.00"), ("2150", "-100.00")), start=1):
        tamper(
            world,
            "INSERT INTO journal_lines (journal_id, line_no, target_key, amount, description) SELECT id, :n, :a, "
            ":amount, 'x' FROM journals WHERE key = 'TB-AC-261002-099'",
            n=number,
            a=account,
            amount=amount,
        )
    for number, change in ((1, "+ 50"), (2, "- 50")):  # a held journal raised (still balanced), released
        tamper(
            world,
            f"UPDATE journal_lines SET amount = amount {change} WHERE line_no = {number} AND journal_id = "
            "(SELECT id FROM journals WHERE key = 'TB-AC-261002-001')",
        )
    tamper(world, "UPDATE journals SET status = 'planned' WHERE key = 'TB-AC-261002-001'")
    world.ledger.lock = None
    world.clock.night_after(date(2026, 10, 3))
    result = sync(world.app, entity="acme-us", until=date(2026, 10, 2))

    assert "TB-AC-261002-099" not in world.ledger.journals
    assert "TB-AC-261002-001" not in world.ledger.journals
    refused = dict(result.post.rejected)
    assert refused["TB-AC-261002-099"].endswith(
        "was not posted: no event of the audit chain committed it: it was added behind the audit log; "
        "`tokenbooks audit verify` names what changed, and the next sync plans what the facts still need"
    )
    assert "it differs from what event " in refused["TB-AC-261002-001"]
    assert [e.data["key"] for e in events(world) if e.kind == "posting.refused"] == [
        "TB-AC-261002-001",
        "TB-AC-261002-099",
    ]


def test_a_posted_journal_put_back_in_line_is_named_with_the_ledger_id_its_posting_recorded(world: World):
    """Marked rejected (or planned), the sync log, the console and the export say it is not in the ledger
    while it is (the next sync finds it there by its key and marks it posted again, booking nothing)."""
    month(world)
    tamper(world, "UPDATE journals SET status = 'rejected' WHERE key = 'TB-AC-261001-001'")
    tamper(world, "UPDATE journals SET status = 'planned', ledger_id = NULL WHERE key = 'TB-AC-261002-001'")
    messages = sorted(
        p.message for p in verify_chain(world.app.store).problems if p.problem == "posting-altered"
    )
    assert len(messages) == 2
    assert messages[0].endswith("but the store now says status 'rejected', ledger id 1")
    assert "TB-AC-261002-001" in messages[1]
    assert messages[1].endswith("but the store now says status 'planned' with no ledger id")


def test_a_contribution_edited_or_deleted_is_named_by_its_journal(world: World):
    """What a journal adds to its buckets is what the next plan subtracts as posted: edited, the next sync
    posts a delta no provider fact explains."""
    month(world)
    tamper(
        world,
        "UPDATE contributions SET amount = '500.00' WHERE id = (SELECT MIN(c.id) FROM contributions c "
        "JOIN journals j ON j.id = c.journal_id WHERE j.key = 'TB-AC-261001-001')",
    )
    tamper(
        world,
        "DELETE FROM contributions WHERE journal_id = (SELECT id FROM journals WHERE key = 'TB-AC-261002-001')",
    )
    found = sorted((p.problem, p.message.split(" (")[0]) for p in verify_chain(world.app.store).problems)
    assert found == [
        ("contributions-altered", "journal TB-AC-261001-001 of acme-us"),
        ("contributions-altered", "journal TB-AC-261002-001 of acme-us"),
    ]


def test_an_approval_verifies_as_recorded_and_a_forged_approver_is_named(world: World):
    world.ledger.lock = date(2026, 10, 31)
    world.app.locked_behaviour = lambda entity: LockedBehaviour.HOLD
    month(world)
    with UnitOfWork(world.app.engine) as uow:
        first, second = uow.outbox.list("acme-us", statuses=["held"])[:2]
    approve_journal(
        world.app.store, world.clock, entity="acme-us", key=first.journal.key, approver="j.rivera"
    )
    assert verify_chain(world.app.store).intact
    tamper(world, "UPDATE journals SET approved_by = 'mallory' WHERE key = :key", key=first.journal.key)
    tamper(world, "UPDATE journals SET approved_by = 'j.rivera' WHERE key = :key", key=second.journal.key)
    problems = verify_chain(world.app.store).problems
    assert [p.problem for p in problems] == ["approval-altered", "approval-altered"]
    by_key = {p.message.split(" ")[1]: p.message for p in problems}
    assert "was approved by j.rivera (event " in by_key[first.journal.key]
    assert by_key[first.journal.key].endswith("but the store now says mallory")
    assert by_key[second.journal.key].endswith(
        "says it was approved by j.rivera, but no approval event records it"
    )


def test_a_journal_the_ledger_lost_and_the_next_sync_posted_again_verifies_intact(world: World):
    month(world)
    del world.ledger.journals["TB-AC-261002-001"]  # deleted by hand in the ledger
    reconcile(world)  # drift: queued again, no longer posted
    assert verify_chain(world.app.store).intact
    world.clock.night_after(date(2026, 10, 3))
    assert sync(world.app, entity="acme-us", until=date(2026, 10, 2)).post.posted == ["TB-AC-261002-001"]
    assert verify_chain(world.app.store).intact


def test_a_runs_actor_outcome_or_row_changed_behind_the_log_is_named(world: World):
    """The sync log (`tokenbooks runs`, the console, the export) reads the runs' rows: who ran a sync and
    how it ended must be what the run's own events recorded."""
    month(world)
    world.source.set("2.00", date(2026, 10, 3))
    world.clock.night_after(date(2026, 10, 3))
    sync(world.app, entity="acme-us", until=date(2026, 10, 3))
    with UnitOfWork(world.app.engine) as uow:
        first, second = uow.runs.of_entity("acme-us")
    tamper(world, "UPDATE runs SET actor = 'mallory' WHERE id = :id", id=first.id)
    tamper(world, "UPDATE runs SET status = 'failed' WHERE id = :id", id=second.id)
    found = sorted((p.problem, p.message) for p in verify_chain(world.app.store).problems)
    assert [problem for problem, _ in found] == ["run-altered", "run-altered"]
    messages = {message.split(" ")[1]: message for _, message in found}
    assert messages[first.id].endswith(
        f"was started as sync of acme-us by {first.actor} (event {events(world)[0].id}): its actor, kind or "
        "entity was altered"
    )
    assert "ended succeeded (event " in messages[second.id]
    assert messages[second.id].endswith("but the store now says failed")
    tamper(world, "DELETE FROM runs WHERE id = :id", id=second.id)
    assert "run-missing" in {p.problem for p in verify_chain(world.app.store).problems}


def test_a_stored_mapping_version_edited_or_deleted_behind_the_log_is_named(world: World):
    """The planner reads stored versions back for the days they reach (and the history, the preview and the
    export show them): an edited rule there moves spend with no controller's save behind it."""
    month(world)
    tamper(world, "UPDATE mapping_versions SET content = content || '# and one more rule'")
    [problem] = verify_chain(world.app.store).problems
    assert problem.problem == "version-altered"
    assert problem.message.startswith("mapping version 1 (effective ")
    assert problem.message.endswith("its stored text was altered after it was used")
    tamper(world, "DELETE FROM mapping_versions")
    [problem] = verify_chain(world.app.store).problems
    assert problem.problem == "version-missing"
    assert "mapping version 1 (hash " in problem.message
    assert problem.message.endswith("is no longer in the store")


def test_a_journal_left_unbalanced_by_hand_is_named_as_altered_not_as_a_bug_in_tokenbooks(
    world: World, tmp_path
):
    """The auditor's trace and export read the journal: they said "internal error … please report it"."""
    month(world)
    tamper(
        world,
        "UPDATE journal_lines SET amount = '999.99' WHERE line_no = 1 AND journal_id = "
        "(SELECT id FROM journals WHERE key = 'TB-AC-261001-001')",
    )
    variables = {
        "TOKENBOOKS_DATABASE_URL": world.app.settings.database_url,
        "TOKENBOOKS_MAPPING_FILE": str(world.mapping_path),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
    }
    for command in (["audit", "trace", "TB-AC-261001-001", "1"], ["audit", "export", "--period", "2026-10"]):
        done = tokenbooks_with(variables, tmp_path, *command)
        said = " ".join(done.stderr.split())
        assert done.returncode == 1, said
        assert "Traceback" not in done.stderr
        assert "bug" not in said
        assert said.startswith(
            "Error: journal TB-AC-261001-001 of acme-us as stored is not a valid journal (journal "
            "TB-AC-261001-001 does not balance"
        )
        assert "its rows were changed in the database, behind tokenbooks" in said
        assert "Fix: run `tokenbooks audit verify` to see what changed" in said


def test_cli_verify_exits_non_zero_and_names_the_event(world: World, monkeypatch):
    month(world)
    target = events(world)[2]
    tamper(world, "UPDATE events SET actor = 'mallory' WHERE id = :id", id=target.id)
    monkeypatch.setenv("TOKENBOOKS_DATABASE_URL", world.app.settings.database_url)
    monkeypatch.setenv("TOKENBOOKS_MAPPING_FILE", str(world.mapping_path))
    result = CliRunner().invoke(cli, ["audit", "verify", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["intact"] is False
    assert report["problems"][0]["event_id"] == target.id


def test_a_posted_line_traces_to_its_rule_facts_and_raw_payload(world: World):
    month(world)
    whole = trace(world.app.store, entity="acme-us", key="TB-AC-261001-001")
    cogs = next(ln.line_no for ln in whole.lines if ln.account == "5010|class=Support Assistant")
    found = trace(world.app.store, entity="acme-us", key="TB-AC-261001-001", line=cogs)
    assert (found.status, found.ledger_id) == ("posted", world.ledger.journals["TB-AC-261001-001"].ledger_id)
    [line] = found.lines
    assert (line.account, line.amount, line.balancing) == (
        "5010|class=Support Assistant",
        Decimal("120.00"),
        False,
    )
    [bucket] = line.buckets
    assert bucket.contribution == bucket.allocated
    rules = sorted((a.rule_id, a.mapping_version, str(a.amount)) for a in bucket.allocations)
    assert rules == [("support", 1, "120.00")]
    fact = bucket.allocations[0].fact
    assert fact.version == 1
    assert fact.payload.endpoint == "https://openai.test/v1/organization/costs"
    assert fact.payload.sha256


def test_a_traced_line_reaches_the_invoice_that_bills_its_month_or_says_none_is_there_yet(
    world: World, monkeypatch
):
    month(world)
    [none_yet] = trace(world.app.store, entity="acme-us", key="TB-AC-261001-001", line=1).invoices
    assert (none_yet.provider, none_yet.provider_account, none_yet.period, none_yet.number) == (
        "openai",
        "org-1",
        "2026-10",
        None,
    )
    invoice(world, "165.50")
    [billed] = trace(world.app.store, entity="acme-us", key="TB-AC-261001-001", line=1).invoices
    assert (billed.number, billed.total, billed.currency, billed.issue_date) == (
        "INV-1",
        Decimal("165.50"),
        "USD",
        date(2026, 11, 3),
    )
    monkeypatch.setenv("TOKENBOOKS_DATABASE_URL", world.app.settings.database_url)
    monkeypatch.setenv("TOKENBOOKS_MAPPING_FILE", str(world.mapping_path))
    shown = CliRunner().invoke(cli, ["audit", "trace", "TB-AC-261001-001", "1"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "invoice INV-1 for openai/org-1 2026-10: 165.50 USD, issued 2026-11-03" in shown.stdout


def test_the_balancing_line_traces_to_every_bucket_of_the_journal(world: World):
    month(world)
    found = trace(world.app.store, entity="acme-us", key="TB-AC-261001-001")
    [balancing] = [ln for ln in found.lines if ln.balancing]
    assert balancing.account == "2150"
    assert -balancing.amount == sum(b.contribution for b in balancing.buckets)
    with pytest.raises(InputError, match="no journal 'TB-AC-999999-001'"):
        trace(world.app.store, entity="acme-us", key="TB-AC-999999-001")


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx", "html"])
def test_a_period_exports_for_auditors_without_secrets(world: World, tmp_path, fmt: str):
    secret = "https://hooks.slack.test/services/T000/B000/very-secret-token"
    world.app.settings.alerts.webhook_url = SecretStr(secret)
    month(world)
    invoice(world, "165.50")
    reconcile(world)
    with UnitOfWork(world.app.engine) as uow:  # a reason that happens to quote the secret
        uow.runs.finish(
            uow.runs.latest(1, kind="sync")[0].id,
            "succeeded",
            reason=f"sent to {secret}",
            stats={},
            now=world.clock(),
        )
        uow.commit()
    export = period_export(
        world.app.store, entity="acme-us", period=OCT, secrets=secret_values(world.app.settings)
    )
    files = write_export(export, fmt, tmp_path / "out")
    content = "".join(_text(path) for path in files)
    assert "very-secret-token" not in content
    assert "[redacted]" in content
    assert "TB-AC-261001-001" in content
    assert world.ledger.journals["TB-AC-261002-001"].ledger_id in content
    assert "matched" in content
    if fmt == "xlsx":
        book = load_workbook(files[0])
        assert book.sheetnames == [
            "runs",
            "journals",
            "journal_lines",
            "trial_balance",
            "postings",
            "approvals",
            "reconciliation",
            "events",
            "mapping_versions",
            "policy_versions",
            "exceptions",
            "lineage",
        ]
        lines = list(book["journal_lines"].values)
        assert lines[0] == (
            "key",
            "line_no",
            "account",
            "account_name",
            "class",
            "department",
            "tracking",
            "debit",
            "credit",
            "description",
        )
    if fmt == "csv":
        with next(p for p in files if p.name.endswith("-postings.csv")).open() as handle:
            rows = list(csv.DictReader(handle))
        assert {r["outcome"] for r in rows} == {"created"}
        assert all(r["request_id"] for r in rows)
    if fmt == "html":
        assert "<svg" in content
        assert "<script" not in content
        assert "AI COGS" in content
        assert "<title>2026-10-01 AI COGS: 132.00 USD</title>" in content  # 120.00 + 40 % of 30.00


def _text(path) -> str:
    if path.suffix == ".xlsx":
        book = load_workbook(path)
        return "\n".join(str(v) for sheet in book for row in sheet.values for v in row)
    return path.read_text()


def test_the_export_has_the_periods_trial_balance_and_it_ties_to_the_ledger(world: World):
    """Per account, what the posted journals of the month put there, total debits = total credits: an
    auditor ties each figure to the ledger's trial balance (before, only line by line, to add up)."""
    month(world)
    world.source.set("4.00", date(2026, 10, 3))
    world.ledger.lock = date(2026, 10, 31)  # October is closed before the 3rd is booked: held, not posted
    world.app.locked_behaviour = lambda entity: LockedBehaviour.HOLD
    world.clock.night_after(date(2026, 10, 3))
    sync(world.app, entity="acme-us", until=date(2026, 10, 3))
    export = period_export(world.app.store, entity="acme-us", period=OCT)
    assert {j["status"] for j in export.tables["journals"].records()} == {"posted", "held"}
    rows = export.tables["trial_balance"].records()
    *accounts, total = rows
    assert total == {
        "account": "total",
        "account_name": "",
        "currency": "USD",
        "debit": Decimal("165.50"),
        "credit": Decimal("165.50"),
        "balance": Decimal("0.00"),
        "journals": 2,  # the held one is not in the ledger, nor here
    }
    in_ledger = {
        a: world.ledger.balance(a)
        for a in {line.account for j in world.ledger.journals.values() for line in j.lines}
    }
    assert {r["account"]: r["balance"] for r in accounts} == in_ledger
    assert sum(r["debit"] or 0 for r in accounts) == total["debit"]


def test_runs_record_their_inputs_and_a_policy_change_and_an_approval_are_events(world: World):
    world.ledger.lock = date(2026, 10, 31)
    world.app.locked_behaviour = lambda entity: LockedBehaviour.HOLD  # the controller wants to approve
    month(world)
    with UnitOfWork(world.app.engine) as uow:
        [held] = uow.outbox.list("acme-us", statuses=["held"])[:1]
    inputs = next(e for e in events(world) if e.kind == "run.inputs")
    assert inputs.data["mapping"]["version"] == 1
    assert inputs.data["policy"]["locked_period"] == "hold"
    assert inputs.data["sources"] == ["openai.costs"]
    started = next(e for e in events(world) if e.kind == "run.started")
    assert started.data["code_version"]

    approve_journal(world.app.store, world.clock, entity="acme-us", key=held.journal.key, approver="j.rivera")
    world.ledger.lock = None  # the controller reopened October
    del world.app.locked_behaviour
    result = sync(world.app, entity="acme-us", until=date(2026, 10, 2))
    assert held.journal.key in result.post.posted
    approval = next(e for e in events(world) if e.kind == "journal.approved")
    assert (approval.actor, approval.data["key"]) == ("j.rivera", held.journal.key)
    [change] = [e for e in events(world) if e.kind == "policy.changed"]
    assert change.data["before"]["locked_period"] == "hold"
    assert change.data["after"]["locked_period"] == "next_open_period"
    with pytest.raises(InputError, match="not held"):
        approve_journal(world.app.store, world.clock, entity="acme-us", key=held.journal.key, approver="x")
