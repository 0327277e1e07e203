"""The first real night, end to end: `sync` against an OpenAI Costs replay whose pages are built from the
specification's own example (integer quantities, several pages, a 429 first), booked into both ledger
sandboxes through the real adapters — every dollar — and a second run posts nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr
from werkzeug.wrappers import Request, Response

from connector.bootstrap import build_app
from connector.exact_json import dumps_exact
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.tokens import TokenCipher
from connector.retrying import no_sleep
from connector.sandbox.common import SandboxServer
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.connections import connect_ledger
from connector.service.sync import sync
from connector.settings import OpenAISettings, Settings
from tests.contracts import openai_schema_errors
from tests.service.conftest import Clock
from tests.service.test_qbo_resilience import approve, ledger_totals
from tests.support import MINIMAL_MAPPING, SHARED, free_port
from tests.xero_support import running_xero

DAYS = [date(2026, 10, d) for d in range(1, 7)]
ADMIN_KEY = "sk-admin-replay-0001"
EXAMPLE_XERO_MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "example-xero.yaml"


def spec_costs_example() -> dict:
    """The spec's own CostsResult example (`x-oaiMeta.example`): "quantity": 10000, an integer."""
    spec = yaml.safe_load((SHARED / "specs" / "openai_usage_costs.yaml").read_text())
    return json.loads(spec["components"]["schemas"]["CostsResult"]["x-oaiMeta"]["example"])


def replay_pages() -> list[dict]:
    """Six days, two a page, three results a day, each the spec example with its own amount and project."""
    example = spec_costs_example()
    buckets = []
    for number, day in enumerate(DAYS):
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        results = []
        for n, (project, line_item) in enumerate(
            [("proj_support_assistant", "gpt-4.1, output"), ("proj_abc", "input_tokens"), ("proj_abc", None)]
        ):
            result = copy.deepcopy(example)
            result["amount"]["value"] = Decimal(f"{3 + number}.{17 + n * 29:02d}")
            result["project_id"], result["line_item"] = project, line_item
            result["quantity"] = 10000 * (number + 1)  # integers, as the spec's example
            results.append(result)
        buckets.append(
            {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}
        )
    pages = [buckets[i : i + 2] for i in range(0, len(buckets), 2)]
    return [
        {
            "object": "page",
            "data": page,
            "has_more": i < len(pages) - 1,
            "next_page": f"page_{i + 1}" if i < len(pages) - 1 else None,
        }
        for i, page in enumerate(pages)
    ]


class CostsReplay:
    """OpenAI's Costs API, replaying fixed pages; the very first call is throttled (429, Retry-After)."""

    def __init__(self, pages: list[dict]) -> None:
        self.pages = pages
        self.calls = 0
        self.server = SandboxServer(self.app)

    def app(self, environ, start_response):
        request = Request(environ)
        self.calls += 1
        if request.headers.get("Authorization") != f"Bearer {ADMIN_KEY}":
            return Response("{}", 401, mimetype="application/json")(environ, start_response)
        if self.calls == 1:
            body = {
                "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
            }
            return Response(json.dumps(body), 429, {"Retry-After": "2"}, mimetype="application/json")(
                environ, start_response
            )
        cursor = request.args.get("page")
        page = self.pages[int(cursor.split("_")[1]) if cursor else 0]
        return Response(dumps_exact(page), mimetype="application/json")(environ, start_response)

    @property
    def total(self) -> Decimal:
        return sum(
            (r["amount"]["value"] for page in self.pages for b in page["data"] for r in b["results"]),
            Decimal(0),
        )


@pytest.fixture
def replay() -> Iterator[CostsReplay]:
    pages = replay_pages()
    for page in pages:
        assert openai_schema_errors(json.loads(dumps_exact(page))) == []  # what the spec allows
    served = CostsReplay(pages)
    served.server.start()
    yield served
    served.server.stop()


def openai_settings(replay: CostsReplay) -> OpenAISettings:
    return OpenAISettings(
        admin_key=SecretStr(ADMIN_KEY),
        base_url=f"{replay.server.base_url}/v1",
        organization="org-replay",
        usage=False,
        lag_days=0,
        start_date=DAYS[0],
    )


def test_a_spec_replay_is_booked_whole_into_the_quickbooks_sandbox_and_a_rerun_posts_nothing(
    tmp_path, replay
):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(MINIMAL_MAPPING)
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'tb.db'}",
            mapping_file=mapping,
            data_dir=tmp_path,
            encryption_key=SecretStr(Fernet.generate_key().decode()),
            openai=openai_settings(replay),
            quickbooks=QuickBooksSettings(
                client_id=box.client_id,
                client_secret=SecretStr(box.client_secret),
                base_url=box.base_url,
                discovery_url=box.discovery_url,
                redirect_uri=f"http://127.0.0.1:{free_port()}/callback",
                timeout_seconds=5,
            ),
            _env_file=None,
        )
        clock = Clock()
        clock.now = datetime(2026, 10, 8, 2, 30, tzinfo=UTC)
        app = build_app(settings, clock=clock, sleep=no_sleep)
        connect_ledger(app, "quickbooks", "acme-us", open_browser=False, say=approve)
        first = sync(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])
        assert first.status == "succeeded", first.reason
        assert replay.calls == 1 + 3  # the 429, then three pages
        totals = ledger_totals(box)
        debits = sum((v for v in totals.values() if v > 0), Decimal(0))
        assert debits == replay.total == -totals["2150"]  # every dollar, accrued
        entries = len(box.journal_entries())
        second = sync(
            build_app(settings, clock=clock, sleep=no_sleep), entity="acme-us", since=DAYS[0], until=DAYS[-1]
        )
        assert second.status == "succeeded", second.reason
        assert second.posted_count == 0
        assert len(box.journal_entries()) == entries


def test_a_spec_replay_is_booked_whole_into_the_xero_sandbox_and_a_rerun_posts_nothing(tmp_path, replay):
    with running_xero(tmp_path, check_requests=True) as rig:
        settings = rig.settings(tmp_path, EXAMPLE_XERO_MAPPING, encryption_key=TokenCipher.generate_key())
        settings = settings.model_copy(update={"openai": openai_settings(replay)})
        rig.clock.set(datetime(2026, 10, 8, 2, 30, tzinfo=UTC))
        app = build_app(settings, clock=rig.now, sleep=rig.sleep)
        rig.vault = app.token_vault()
        rig.connect("acme-xero")
        first = sync(app, entity="acme-xero", since=DAYS[0], until=DAYS[-1])
        assert first.status == "succeeded", first.reason
        assert replay.calls == 1 + 3  # the 429, then three pages
        journals = rig.live_journals()
        debits = sum(
            (ln["LineAmount"] for mj in journals for ln in mj["JournalLines"] if ln["LineAmount"] > 0),
            Decimal(0),
        )
        assert debits == replay.total
        second = sync(
            build_app(settings, clock=rig.now, sleep=rig.sleep),
            entity="acme-xero",
            since=DAYS[0],
            until=DAYS[-1],
        )
        assert second.status == "succeeded", second.reason
        assert second.posted_count == 0
        assert len(rig.live_journals()) == len(journals)
