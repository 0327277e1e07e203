"""A write the ledger commits after the client gave up ("commit late"): never created twice.

The sandbox holds the connection past the client's timeout and applies the write only
`commit_late_seconds` of sandbox time later — QuickBooks still working on a batch for up to its 120 s, Xero
for its ~5 minutes. Both sandboxes run on a manual clock that the adapters' sleeps advance, so the wait
before the re-check costs no real time. Without that wait (`settle_seconds=0`, what tokenbooks did before)
the lookup finds nothing, the batch goes again, and once the late one lands the ledger holds every journal
twice: the second test of each pair shows the hazard is real in the sandbox.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from connector.ledgers.port import PostOutcome, PostRequest
from connector.ledgers.quickbooks.adapter import SETTLE_SECONDS as QBO_SETTLE
from connector.ledgers.quickbooks.adapter import quickbooks_pacer
from connector.ledgers.tokens import MemoryVault
from connector.ledgers.xero.adapter import SETTLE_SECONDS as XERO_SETTLE
from connector.retrying import RetryPolicy
from connector.sandbox.common import FaultPlan, ManualClock
from connector.sandbox.quickbooks import QuickBooksSandbox
from tests.ledgers.conftest import accrual, connect, make_ledger, request
from tests.xero_support import journal, running_xero

START = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)


def qbo_run(tmp_path, settle_seconds: float) -> tuple[list, Counter]:
    clock = ManualClock(START)

    def sleep(seconds: float) -> None:
        clock.advance(seconds=max(0.0, seconds))

    def seconds() -> float:
        return clock.now().timestamp()

    # requestid_replay off: the condition, "when requestid does not deduplicate" (erps.md §1.5)
    with QuickBooksSandbox(
        tmp_path / "qbo.json", clock=clock, faults=FaultPlan(delay_seconds=0.6), request_id_replay=False
    ) as box:
        # and a company that turned off "Warn if duplicate journal number": DocNumber does not refuse the copy
        box.set_preference("WarnDuplicateJournalNumber", False)
        vault = MemoryVault()
        connect(box, vault)
        ledger = make_ledger(
            box,
            vault,
            timeout=0.3,
            retry=RetryPolicy(4, sleep=sleep),
            pacer=quickbooks_pacer(clock=seconds, sleep=sleep),
            settle_seconds=settle_seconds,
        )
        ledger.lock_date()
        ledger.chart_of_accounts()
        box.faults.queue("commit_late")  # QuickBooks writes the batch 100 s later
        results = ledger.post([request(accrual(n, "10.00")) for n in (1, 2, 3)])
        clock.advance(seconds=600)
        box.commit_due()
        held = Counter(entry["DocNumber"] for entry in box.journal_entries())
    return results, held


def test_quickbooks_a_batch_committed_late_is_found_not_sent_again(tmp_path):
    results, held = qbo_run(tmp_path, QBO_SETTLE)
    assert [r.outcome for r in results] == [PostOutcome.FOUND] * 3
    assert sorted(held.values()) == [1, 1, 1]


def test_quickbooks_without_the_wait_the_late_batch_lands_twice(tmp_path):
    _, held = qbo_run(tmp_path, settle_seconds=0)
    assert sorted(held.values()) == [2, 2, 2]  # the hazard the wait removes


def xero_run(settle_seconds: float) -> tuple[list, Counter]:
    with running_xero(check_requests=True, write_faults=FaultPlan(delay_seconds=0.6)) as rig:
        rig.connect()
        ledger = rig.ledger(timeout=0.3)
        ledger.settle_seconds = settle_seconds
        ledger.organisation()
        ledger.chart_of_accounts()
        ledger.tracking()
        rig.box.write_faults.queue("commit_late")  # Xero writes the PUT 100 s later
        keys = [f"TB-AC-261003-00{n}" for n in (1, 2, 3)]
        results = ledger.post([PostRequest(journal(key, "10.00"), f"rid-{key}") for key in keys])
        rig.clock.advance(seconds=600)
        rig.box.commit_due()
        held = Counter(j["Narration"][:16] for j in rig.live_journals())
    return results, held


def test_xero_a_put_committed_late_is_found_not_sent_again():
    results, held = xero_run(XERO_SETTLE)
    assert [r.outcome for r in results] == [PostOutcome.FOUND] * 3
    assert sorted(held.values()) == [1, 1, 1]


def test_xero_without_the_wait_the_late_put_lands_twice():
    _, held = xero_run(settle_seconds=0)
    assert sorted(held.values()) == [2, 2, 2]


@pytest.mark.parametrize(("settings", "server"), [("quickbooks", 120), ("xero", 300)])
def test_the_client_waits_longer_than_the_ledger_itself(settings, server):
    from connector.settings import Settings

    assert Settings(_env_file=None).ledgers[settings].timeout_seconds > server
