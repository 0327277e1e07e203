"""The shared sandbox building blocks in connector.sandbox.common (reused by the Xero sandbox)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from connector.sandbox.common import (
    ConcurrencyGauge,
    FaultPlan,
    ManualClock,
    SandboxServer,
    SlidingWindowLimiter,
    StateFile,
    dumps_exact,
    loads_exact,
)


def test_exact_json_keeps_decimal_text_and_refuses_floats():
    assert (
        dumps_exact({"a": Decimal("100.10"), "b": [1, True, None, "x"]})
        == '{"a":100.10,"b":[1,true,null,"x"]}'
    )
    assert loads_exact('{"a": 100.10, "n": 3}') == {"a": Decimal("100.10"), "n": 3}
    with pytest.raises(TypeError):
        dumps_exact({"a": 0.1})
    with pytest.raises(ValueError, match="non-finite"):
        dumps_exact(Decimal("NaN"))


def test_manual_clock_only_moves_forward():
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.advance(seconds=90) == datetime(2025, 1, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2025, 1, 1))


def test_sliding_window_limiter_counts_per_key_and_forgets_old_events():
    clock = ManualClock()
    limiter = SlidingWindowLimiter(3, clock)
    assert [limiter.try_acquire("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.try_acquire("b", weight=3)
    clock.advance(seconds=59)
    assert not limiter.try_acquire("a")
    clock.advance(seconds=1)
    assert limiter.count("a") == 0
    assert limiter.try_acquire("a", weight=3)


def test_concurrency_gauge_gives_slots_back():
    gauge = ConcurrencyGauge(1)
    with gauge.slot("r") as first, gauge.slot("r") as second:
        assert (first, second) == (True, False)
    assert gauge.in_flight("r") == 0
    with pytest.raises(RuntimeError):
        gauge.leave("r")


def test_fault_plan_scripts_counts_and_clears():
    plan = FaultPlan(delay_seconds=0.25)
    plan.queue("timeout", times=2)
    plan.storm("server_error", calls=1, status=503)
    drawn = [plan.draw() for _ in range(4)]
    assert [(f.kind, f.status, f.delay_seconds) for f in drawn[:3]] == [
        ("timeout", 504, 0.25),
        ("timeout", 504, 0.25),
        ("server_error", 503, 0.25),
    ]
    assert drawn[3] is None
    assert plan.injected == {"timeout": 2, "server_error": 1}
    assert plan.total_injected == 3
    with pytest.raises(ValueError, match="fault kinds"):
        plan.queue("meteor")
    with pytest.raises(ValueError, match="rate"):
        FaultPlan(rate=1.5)


def test_seeded_random_faults_repeat():
    def kinds(seed):
        plan = FaultPlan(rate=0.5, seed=seed)
        return [getattr(plan.draw(), "kind", None) for _ in range(50)]

    assert kinds(3) == kinds(3)
    assert kinds(3) != kinds(4)
    assert None in kinds(3)


def test_fault_plan_is_thread_safe():
    plan = FaultPlan()
    plan.queue("throttle", times=1000)
    threads = [threading.Thread(target=lambda: [plan.draw() for _ in range(100)]) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert plan.injected == {"throttle": 1000}
    assert plan.pending == 0


def test_state_file_round_trips_decimals_and_leaves_no_temp_files(tmp_path):
    state = StateFile(tmp_path / "nested" / "state.json")
    assert state.load() is None
    state.save({"amount": Decimal("0.10")})
    state.save({"amount": Decimal("12.30")})
    assert state.load() == {"amount": Decimal("12.30")}
    assert [p.name for p in (tmp_path / "nested").iterdir()] == ["state.json"]


def test_sandbox_server_picks_a_free_port_and_restarts():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = SandboxServer(app)
    with server:
        first_url = server.base_url
        assert requests.get(first_url).text == "ok"
    with pytest.raises(RuntimeError):
        _ = server.base_url
    assert requests.get(server.start()).text == "ok"
    server.stop()
    assert first_url.startswith("http://127.0.0.1:")
