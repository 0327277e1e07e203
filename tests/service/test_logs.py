"""Structured logs: with TOKENBOOKS_LOG_FORMAT=json every line is a JSON object naming the run it belongs
to, and no secret reaches a log line."""

from __future__ import annotations

import io
import json
import logging
import signal
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.logs import configure_logging
from connector.redaction import remember
from connector.service.sync import sync
from tests.service.conftest import World
from tests.service.harness import write_config
from tests.service.test_processes import child_env, tokenbooks  # noqa: F401 - child_env: the fixture


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    handler = configure_logging("json", "INFO", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_text_lines_name_the_entity_of_their_run_so_two_companies_runs_are_told_apart(world: World):
    """`serve` runs each entity's nightly sync; on stderr (text) their lines interleave, and an auditor
    reading them must see which company each belongs to, not only a run id."""
    stream = io.StringIO()
    handler = configure_logging("text", "INFO", stream)
    try:
        world.source.set("120.00", date(2026, 10, 1))
        world.clock.night_after(date(2026, 10, 1))
        logging.getLogger("tokenbooks.test").info("before any run")
        result = sync(world.app, entity="acme-us", until=date(2026, 10, 1))
    finally:
        logging.getLogger().removeHandler(handler)
    first, *during = stream.getvalue().splitlines()
    assert "[no run]" in first
    assert during
    assert all(f"[run {result.run_id} of acme-us]" in line for line in during)


def test_every_line_of_a_run_is_json_with_its_run_id(world: World, json_logs):
    remember(["sk-admin-LogCanary123"])
    world.source.set("120.00", date(2026, 10, 1))
    world.clock.night_after(date(2026, 10, 1))
    logging.getLogger("tokenbooks.test").info("before any run")
    result = sync(world.app, entity="acme-us", until=date(2026, 10, 1))
    logging.getLogger("tokenbooks.test").warning("after: key sk-admin-LogCanary123 leaked?")

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    during = lines[1:-1]
    assert lines[0]["run_id"] is None
    assert len(during) >= 3  # started, pulls, plan, posts, finished …
    assert {line["run_id"] for line in during} == {result.run_id}
    assert {line["entity"] for line in during} == {"acme-us"}
    assert {"run.started", "run.finished"} <= {line.get("event") for line in during}
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert lines[-1]["run_id"] is None  # the run is over
    assert "LogCanary123" not in json_logs.getvalue()
    assert "[redacted]" in lines[-1]["message"]


def test_with_opentelemetry_a_sync_is_traced_run_pulls_and_posts(world: World):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")  # the global provider can be set once per process: patch around it
    original = trace.get_tracer
    trace.get_tracer = lambda name, *args, **kwargs: provider.get_tracer(name)
    try:
        world.source.set("120.00", date(2026, 10, 1))
        world.clock.night_after(date(2026, 10, 1))
        with tracer.start_as_current_span("the nightly job"):
            result = sync(world.app, entity="acme-us", until=date(2026, 10, 1))
    finally:
        trace.get_tracer = original
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {"tokenbooks.sync", "tokenbooks.pull", "tokenbooks.post"} <= set(spans)
    assert spans["tokenbooks.sync"].attributes["run_id"] == result.run_id
    assert spans["tokenbooks.pull"].parent.span_id == spans["tokenbooks.sync"].context.span_id
    assert spans["tokenbooks.post"].attributes["journals"] == 1


def test_a_service_with_json_logs_writes_only_json_lines_in_utc(tmp_path: Path, child_env):  # noqa: F811
    """What a log collector reads from `tokenbooks serve` with TOKENBOOKS_LOG_FORMAT=json: the jobs it
    scheduled, the address it serves, the catch-up run, the web server's own lines and its stop — each one
    JSON object on one line, its time in UTC with the offset, and only the documented fields."""
    until = datetime.now(UTC).date() - timedelta(days=1)
    config = write_config(
        tmp_path / "config.json", facts=[("10.00", until.isoformat())], ledger=tmp_path / "l.json"
    )
    a_minute_ago = datetime.now(ZoneInfo("America/New_York")) - timedelta(minutes=1)
    child_env |= {
        "TOKENBOOKS_LOG_FORMAT": "json",
        "TOKENBOOKS_WEB__PORT": "0",
        "TOKENBOOKS_SCHEDULE__NIGHTLY_AT": f"{a_minute_ago:%H:%M}",  # missed: caught up at start
        "TOKENBOOKS_OPENAI__START_DATE": until.isoformat(),
    }
    child = tokenbooks(config, "serve", env=child_env, cwd=tmp_path)
    seen: list[str] = []
    assert child.stderr is not None
    while (line := child.stderr.readline()) and '"sync succeeded"' not in line:
        seen.append(line)
    child.send_signal(signal.SIGTERM)
    _, rest = child.communicate(timeout=60)

    lines = [json.loads(line) for line in [*seen, line, *rest.splitlines()] if line.strip()]
    messages = [entry["message"] for entry in lines]
    assert any(m.startswith("scheduled nightly for acme-us: ") for m in messages)
    assert any(m.startswith("tokenbooks serving health on http://") for m in messages)
    assert messages[-1] == "tokenbooks stopped"
    assert {"uvicorn.error", "tokenbooks.run", "tokenbooks.serve"} <= {entry["logger"] for entry in lines}
    for entry in lines:
        assert set(entry) <= {"time", "level", "logger", "message", "run_id", "entity", "event", "exc_info"}
        assert datetime.fromisoformat(entry["time"]).utcoffset() == timedelta(0), entry["time"]


def test_logging_configured_on_one_stderr_writes_to_the_stderr_of_the_moment_it_logs(monkeypatch):
    """A command run in process configures logging on the stderr of that moment (a test's capture, say);
    a line logged after that stderr was closed and replaced (a server thread's late line, the next
    command's migration) reached a closed file: Python printed '--- Logging error ---' and its trace
    into whatever stderr was current, the next command's output."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    handler = configure_logging("text", "INFO")
    try:
        logging.getLogger("tokenbooks.test").info("while the first stderr is open")
        first.close()
        monkeypatch.setattr("sys.stderr", second)
        logging.getLogger("tokenbooks.test").info("after it was replaced")
    finally:
        logging.getLogger().removeHandler(handler)
    written = second.getvalue()
    assert "after it was replaced" in written
    assert "Logging error" not in written
    assert "closed file" not in written
