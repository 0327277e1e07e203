"""Migrations: the chain of revisions builds exactly the schema the code declares, fresh databases are
stamped, and an older database upgrades in place without losing a row, a digit or its audit chain."""

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from connector.domain.audit_chain import GENESIS_HASH, event_hash
from connector.service.audit import verify_chain
from connector.store.db import create_schema, current_revision, head_revision, make_engine, upgrade
from connector.store.unit_of_work import SqlStore, UnitOfWork
from tests.support import MINIMAL_MAPPING

BASELINE = "0001"
AT = datetime(2026, 10, 2, 2, 30, tzinfo=UTC)


def test_running_every_migration_gives_the_schema_the_tables_declare(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_new_database_is_created_whole_and_stamped_at_head(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    assert current_revision(engine) == head_revision()
    create_schema(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    with UnitOfWork(engine) as uow:
        assert uow.events.head().events == 0
    engine.dispose()


def _baseline_with_data(engine) -> list[str]:
    """A database at the baseline revision holding a fact, a posted journal and a chain of events."""
    upgrade(engine, BASELINE)
    hashes, prev = [], GENESIS_HASH
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO raw_payloads (id, source, endpoint, request, body, sha256, fetched_at) "
                "VALUES (1, 'openai.costs', '/v1/organization/costs', '{}', '{\"data\": []}', 'abc', :at)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO facts (id, entity, source, provider, provider_account, natural_key, version, "
                "is_current, charge_date, posting_date, amount, currency, cost_basis, charge_category, "
                "quantity, dimensions, raw_payload_id, pulled_at) VALUES (1, 'acme-us', 'openai.costs', "
                "'openai', 'org-1', 'openai:k1', 1, :t, :d, :d, '1.2378912', 'USD', 'billed', 'usage', "
                "'1234567.000000000001', '{\"project\": \"proj_a\"}', 1, :at)"
            ),
            {"t": True, "d": date(2026, 10, 1), "at": AT},
        )
        c.execute(
            text(
                "INSERT INTO journals (id, entity, ledger, key, kind, txn_date, currency, memo, provider, "
                "provider_account, status, ledger_id, generation, attempts, created_at) VALUES (1, 'acme-us', "
                "'quickbooks', 'TB-AC-261001-001', 'usage_accrual', :d, 'USD', 'm', 'openai', 'org-1', "
                "'posted', '145', 1, 1, :at)"
            ),
            {"d": date(2026, 10, 1), "at": AT},
        )
        c.execute(
            text(
                "INSERT INTO journal_lines (journal_id, line_no, target_key, amount, description) VALUES "
                "(1, 1, '5010', '1.24', 'd'), (1, 2, '2150', '-1.24', 'c')"
            )
        )
        for number in range(3):
            data = {"n": number}
            digest = event_hash(
                prev,
                at=AT,
                actor="tokenbooks",
                kind="run.started",
                message=f"m{number}",
                data=data,
                run_id="r1",
                level="warning",
                scheme=1,
            )
            c.execute(
                text(
                    "INSERT INTO events (run_id, at, actor, kind, level, message, data, prev_hash, hash) "
                    "VALUES ('r1', :at, 'tokenbooks', 'run.started', 'warning', :m, :data, :prev, :hash)"
                ),
                {"at": AT, "m": f"m{number}", "data": f'{{"n": {number}}}', "prev": prev, "hash": digest},
            )
            hashes.append(digest)
            prev = digest
    return hashes


def test_an_older_database_upgrades_to_head_without_loss(database_url):
    engine = make_engine(database_url)
    hashes = _baseline_with_data(engine)

    upgrade(engine)

    assert current_revision(engine) == head_revision()
    with UnitOfWork(engine) as uow:
        [stored] = uow.facts.current("acme-us")
        assert stored.fact.amount == Decimal("1.2378912")
        assert stored.fact.quantity == Decimal("1234567.000000000001")
        assert uow.raw.get(1).body == '{"data": []}'
        journal = uow.outbox.by_key("acme-us", "TB-AC-261001-001")
        assert journal.status == "posted"
        assert [ln.amount for ln in journal.journal.lines] == [Decimal("1.24"), Decimal("-1.24")]
        assert [e.hash for e in uow.events.all()] == hashes
        assert uow.events.head().last_hash == hashes[-1]
    assert verify_chain(SqlStore(engine)).intact  # the old events keep verifying under their own scheme
    with UnitOfWork(engine) as uow:
        uow.events.append("run.finished", "after the upgrade", data={"ok": True})
        uow.commit()
    report = verify_chain(SqlStore(engine))
    assert report.intact, report.problems
    assert report.events == 4
    engine.dispose()


def test_a_bookmark_stored_before_0014_gets_the_first_day_its_source_holds_facts_of(database_url):
    """Without it, an upgraded store's lag would still read before a source's first day (the fix of
    0014 would wait for each source's next pull, which records only that night's window)."""
    engine = make_engine(database_url)
    upgrade(engine, "0013_issue16_refused_days")
    with engine.begin() as c:
        for number, day in enumerate((date(2026, 10, 3), date(2026, 10, 1), date(2026, 10, 2)), start=1):
            c.execute(
                text(
                    "INSERT INTO facts (id, entity, source, provider, provider_account, natural_key, version, "
                    "is_current, charge_date, posting_date, amount, currency, cost_basis, charge_category, "
                    "dimensions, pulled_at) VALUES (:id, 'acme-us', 'openai.costs', 'openai', 'org-1', :key, "
                    "1, :t, :d, :d, '1.00', 'USD', 'billed', 'usage', '{}', :at)"
                ),
                {"id": number, "key": f"openai:k{number}", "t": True, "d": day, "at": AT},
            )
        for source_id in ("openai.costs:org-1", "anthropic.costs:org-2"):  # the second holds no facts
            c.execute(
                text(
                    "INSERT INTO bookmarks (source_id, value, updated_at, refused_days) "
                    "VALUES (:id, '2026-10-03', :at, '[]')"
                ),
                {"id": source_id, "at": AT},
            )

    upgrade(engine)

    with UnitOfWork(engine) as uow:
        assert uow.bookmarks.first_day("openai.costs:org-1") == date(2026, 10, 1)
        assert uow.bookmarks.first_day("anthropic.costs:org-2") is None
    engine.dispose()


def test_a_bookmark_stored_before_0015_has_read_through_its_bookmark_until_its_next_pull(database_url):
    """0015 adds the last day a source has read (past its bookmark when a pull refused days); a bookmark
    stored before holds none, and is read as having read through itself: no freshness is made up."""
    engine = make_engine(database_url)
    upgrade(engine, "0014_first_day_of_history")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO bookmarks (source_id, value, updated_at, refused_days, first_day) "
                "VALUES ('warehouse.billing:proj-1', '2026-10-02', :at, '[\"2026-10-03\"]', '2026-10-01')"
            ),
            {"at": AT},
        )

    upgrade(engine)

    with engine.connect() as c:
        assert c.execute(text("SELECT read_through FROM bookmarks")).scalar_one() is None
    with UnitOfWork(engine) as uow:
        [mark] = uow.bookmarks.all()
        assert (mark.value, mark.read_through, mark.refused_days) == (
            "2026-10-02",
            date(2026, 10, 2),
            (date(2026, 10, 3),),
        )
        uow.bookmarks.hold(
            mark.source_id,
            "2026-10-02",
            [date(2026, 10, 3)],
            "row 7",
            AT,
            date(2026, 10, 1),
            date(2026, 10, 15),
        )
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert uow.bookmarks.all()[0].read_through == date(2026, 10, 15)
    engine.dispose()


def test_a_bookmark_stored_before_0020_names_the_entities_its_source_holds_facts_for(database_url):
    """0020 keeps on each bookmark whose facts it stored, so that listing an entity's sources reads no
    fact; a bookmark stored before gets them from the facts once, at the upgrade."""
    engine = make_engine(database_url)
    upgrade(engine, "0019_fact_change_marks")
    with engine.begin() as c:
        for number, (entity, account) in enumerate(
            (("acme-us", "111"), ("acme-eu", "222"), ("acme-us", "222"))
        ):
            c.execute(
                text(
                    "INSERT INTO facts (id, entity, source, provider, provider_account, natural_key, version, "
                    "is_current, charge_date, posting_date, amount, currency, cost_basis, charge_category, "
                    "dimensions, pulled_at) VALUES (:id, :entity, 'focus', 'aws', :account, :key, "
                    "1, :t, :d, :d, '1.00', 'USD', 'billed', 'usage', '{}', :at)"
                ),
                {
                    "id": number + 1,
                    "entity": entity,
                    "account": account,
                    "key": f"focus:k{number}",
                    "t": True,
                    "d": date(2026, 10, 1),
                    "at": AT,
                },
            )
        for source_id in ("focus:111", "focus:222", "focus:333"):  # the last holds no facts
            c.execute(
                text(
                    "INSERT INTO bookmarks (source_id, value, updated_at, refused_days) "
                    "VALUES (:id, '2026-10-01', :at, '[]')"
                ),
                {"id": source_id, "at": AT},
            )

    upgrade(engine)

    with UnitOfWork(engine) as uow:
        assert {mark.source_id: mark.entities for mark in uow.bookmarks.all()} == {
            "focus:111": ("acme-us",),
            "focus:222": ("acme-eu", "acme-us"),
            "focus:333": (),
        }
        uow.bookmarks.advance("focus:333", "2026-10-02", AT, entity="acme-eu")
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert {mark.source_id: mark.entities for mark in uow.bookmarks.all()}["focus:333"] == ("acme-eu",)
    engine.dispose()


def test_a_focus_invoice_stored_before_0021_is_rounded_to_minor_units_and_others_are_left(database_url):
    """An invoice a FOCUS export summed was stored at the provider's precision (33.109011): the true-up
    could not book its variance (MoneyError). 0021 rounds each line once and totals the lines; an
    invoice imported from a bill (already in cents) is not touched."""
    engine = make_engine(database_url)
    upgrade(engine, "0020_bookmark_entities")
    with engine.begin() as c:
        for number, source, total, lines in (
            (
                "INV-10",
                "focus",
                "33.109011",
                [("FOCUS usage", "33.109011", "usage"), ("FOCUS tax", "2.004", "tax")],
            ),
            ("INV-11", "invoices.json", "10.00", [("Usage", "10.00", "usage")]),
        ):
            c.execute(
                text(
                    "INSERT INTO invoices (entity, provider, provider_account, number, period, issue_date, total, "
                    "currency, lines, source, imported_at) VALUES ('acme-us', 'aws', '123', :number, '2026-10', "
                    ":issued, :total, 'USD', :lines, :source, :at)"
                ),
                {
                    "number": number,
                    "issued": date(2026, 11, 1),
                    "total": total,
                    "lines": json.dumps([{"description": d, "amount": a, "kind": k} for d, a, k in lines]),
                    "source": source,
                    "at": AT,
                },
            )

    upgrade(engine)

    with UnitOfWork(engine) as uow:
        stored = {
            i.number: (i.total, [ln["amount"] for ln in i.lines]) for i in uow.invoices.for_entity("acme-us")
        }
    assert stored == {
        "INV-10": (Decimal("35.11"), ["33.11", "2.00"]),
        "INV-11": (Decimal("10.00"), ["10.00"]),
    }
    engine.dispose()


def test_a_lot_change_left_unplanned_before_0022_becomes_a_change_mark(database_url):
    """Before 0022 a lot recorded, changed or voided kept its own `plan_from` until the next plan; 0022
    drops the column and keeps what it asked for as the mark a lot change now leaves."""
    engine = make_engine(database_url)
    upgrade(engine, "0021_focus_invoice_cents")
    with engine.begin() as c:
        for lot_id, plan_from in (("RCPT-7", date(2026, 10, 1)), ("RCPT-1", None)):
            c.execute(
                text(
                    "INSERT INTO credit_lots (entity, provider, provider_account, lot_id, purchase_date, amount, "
                    "currency, description, source, promotional, recorded_at, pool, refund_of, voided_by, "
                    "void_reason, plan_from) VALUES ('acme-us', 'openai', 'org-1', :lot, :bought, '500.00', "
                    "'USD', '', 'cli', false, :at, '', '', '', '', :plan_from)"
                ),
                {"lot": lot_id, "bought": date(2026, 10, 1), "at": AT, "plan_from": plan_from},
            )

    upgrade(engine)

    with UnitOfWork(engine) as uow:
        mark = uow.fact_marks.plan_from("acme-us")
        assert sorted(lot.lot_id for lot in uow.credit_lots.for_entity("acme-us")) == ["RCPT-1", "RCPT-7"]
    assert mark is not None
    assert (mark.plan_from, mark.by) == (date(2026, 10, 1), ("lot openai/org-1/RCPT-7",))
    engine.dispose()


def test_db_upgrades_started_together_wait_for_each_other(database_url, tmp_path):
    """Two replicas' init containers (or a service and a CronJob) run `tokenbooks db upgrade` at the same
    moment on a new database: one builds the schema, the others wait for its lock and find it done. They
    raced before: the losers stopped on 'internal error (duplicate key … alembic_version)', exit 1."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOOKS_")}
    env |= {"TOKENBOOKS_DATABASE_URL": database_url, "TOKENBOOKS_MAPPING_FILE": str(mapping)}
    cli = [sys.executable, "-c", "from connector.cli import main; main()", "db", "upgrade"]
    children = [
        subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    said = [child.communicate(timeout=120) for child in children]

    assert [child.returncode for child in children] == [0, 0, 0], [err for _, err in said]
    outs = sorted(" ".join(out.split()) for out, _ in said)
    head = head_revision()
    assert [out.endswith(f"schema {head} → {head}") for out in outs].count(True) == 2, outs
    assert [out.endswith(f"schema empty → {head}") for out in outs].count(True) == 1, outs


def test_the_commitments_made_before_0023_are_indexed_by_the_event_that_made_each_last(database_url):
    """0023 indexes the commitments the events hold — a journal by its entity and key, a provider day by
    its source and account — each to the LAST event that committed it (a restated day is committed again),
    so the poster and the sync find them without reading the log; the chain itself is left as it was."""
    engine = make_engine(database_url)
    upgrade(engine, "0022_lot_changes_as_marks")
    days = {"2026-10-01": "k1 aaaa", "2026-10-02": "k2 bbbb"}
    with UnitOfWork(engine) as uow:
        journals = uow.events.append(
            "journals.committed",
            "2 journal(s) committed",
            data={
                "entity": "acme-us",
                "journals": {key: {"journal": "h", "lines": []} for key in ("TB-1", "TB-2")},
            },
            now=AT,
        )
        first = uow.events.append(
            "facts.committed",
            "2 days",
            data={"source": "openai.costs", "provider_account": "org-1", "days": days, "max_fact_id": 2},
            now=AT,
        )
        restated = uow.events.append(
            "facts.committed",
            "1 day",
            data={"source": "openai.costs", "provider_account": "org-1", "days": {"2026-10-02": "k2 cccc"}},
            now=AT,
        )
        uow.commit()

    upgrade(engine)

    with engine.connect() as c:
        rows = c.execute(text("SELECT kind, subject, account, key, event_id FROM commitment_index")).all()
    assert sorted(tuple(r) for r in rows) == [
        ("facts", "openai.costs", "org-1", "2026-10-01", first.id),
        ("facts", "openai.costs", "org-1", "2026-10-02", restated.id),
        ("journal", "acme-us", "", "TB-1", journals.id),
        ("journal", "acme-us", "", "TB-2", journals.id),
    ]
    with UnitOfWork(engine) as uow:
        found = uow.commitments.day_commitments(
            [("openai.costs", "org-1", date(2026, 10, 2)), ("openai.costs", "org-1", date(2026, 10, 3))]
        )
    assert found == {("openai.costs", "org-1", date(2026, 10, 2)): (restated.id, {"k2": "cccc"})}
    chain = verify_chain(SqlStore(engine)).problems  # (no journal nor fact is stored: those are named)
    assert [p for p in chain if p.problem in ("altered", "missing", "relinked", "truncated")] == []
    engine.dispose()
