"""What tokenbooks does after each run it finishes (the scheduler's jobs, the CLI's commands that run
from cron, systemd or Kubernetes, and the console's sync, close and imports): raise and send the alerts that are due, and compute what the console's
pages open first, so the next page view reads it (`store/console_summaries.py`)."""

from __future__ import annotations

from typing import Any

from connector.service.alerts import raise_alerts
from connector.service.console import refresh_summaries


def after_run(app: Any, entity: str) -> list:
    """Raise and send the alerts due for `entity`, then store the console's summaries; returns the alerts
    sent now."""
    try:
        return raise_alerts(app, entity)
    finally:  # an alert that could not be sent must not leave the console's pages stale
        refresh_summaries(app, entity)
