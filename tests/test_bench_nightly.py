"""The nightly-sync benchmark, run small: it keeps working as the code changes, and its targets hold
at any size — a month posts one journal per day in ceil(journals / n) write calls (n: what one write
carries, QuickBooks 30 a batch, Xero 50 a PUT), a night with no new data writes nothing, and late data
corrects only the days it touched. (Its speed and memory targets — ratios to the floor, to the quiet night,
the peak of each ledger's own process — are the benchmark's to report at a million facts; at this size they
measure start-up, so they are only checked to be reported.)"""

from __future__ import annotations

from bench import nightly_sync


def test_the_nightly_benchmark_at_a_small_size_meets_its_targets_on_both_ledgers():
    figures = nightly_sync.run(facts=3_100)
    assert set(figures["ledgers"]) == {"quickbooks", "xero"}
    for ledger, result in figures["ledgers"].items():
        first, quiet, late = result["runs"]
        assert {run["status"] for run in result["runs"]} == {"succeeded"}
        writes = {"quickbooks": 2, "xero": 1}[ledger]  # 31 journals: 30 + 1 a batch; one PUT of 31
        assert (first["facts"], first["journals"], first["writes"]) == (3_100, 31, writes)
        assert (quiet["journals"], quiet["writes"]) == (0, 0)
        assert (late["journals"], late["writes"]) == (3, 1)  # the three late days, corrected in one batch
        assert result["meets_targets"]
        assert 0 < result["peak_memory_mb"] < 1000  # its own process's, reported
    assert set(figures["speed_targets"]) == {"late_to_quiet", "first_run_to_floor", "peak_memory"}
    assert "late data" in nightly_sync.report(figures)
