"""Fixtures for the QuickBooks Online sandbox tests.

A sandbox on loopback with a ManualClock, tokens, the real python-quickbooks client pointed at it, a raw HTTP
helper, and JournalEntry builders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.objects.base import Ref
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from requests_oauthlib import OAuth2Session

from connector.sandbox.common import FaultPlan, ManualClock, dumps_exact, loads_exact
from connector.sandbox.quickbooks import QuickBooksSandbox

# Faults that sleep are kept short so the whole suite stays fast.
FAULT_DELAY_SECONDS = 0.05


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 2, 3, 9, 0, tzinfo=UTC))


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "qbo-state.json"


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan(delay_seconds=FAULT_DELAY_SECONDS)


@pytest.fixture
def token_faults() -> FaultPlan:
    return FaultPlan(delay_seconds=FAULT_DELAY_SECONDS)


@pytest.fixture
def sandbox(
    state_file: Path, clock: ManualClock, faults: FaultPlan, token_faults: FaultPlan
) -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(state_file, clock=clock, faults=faults, token_faults=token_faults) as running:
        yield running


@pytest.fixture
def tokens(sandbox: QuickBooksSandbox) -> dict[str, Any]:
    return sandbox.issue_tokens()


@pytest.fixture
def qb_for(monkeypatch: pytest.MonkeyPatch) -> Callable[..., QuickBooks]:
    """A python-quickbooks client for any sandbox and access token, set up as erps.md §3.2 describes."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the sandbox speaks plain http

    def build(target: QuickBooksSandbox, access_token: str, realm_id: str | None = None) -> QuickBooks:
        client = QuickBooks(company_id=realm_id or target.realm_id, minorversion=75, use_decimal=True)
        client.api_url_v3 = target.base_url + "/v3"
        client.session = OAuth2Session(
            target.client_id, token={"access_token": access_token, "token_type": "Bearer"}
        )
        return client

    return build


@pytest.fixture
def make_qb(sandbox: QuickBooksSandbox, qb_for: Callable[..., QuickBooks]) -> Callable[..., QuickBooks]:
    """A python-quickbooks client for an access token of the ``sandbox`` fixture."""

    def build(access_token: str, realm_id: str | None = None) -> QuickBooks:
        return qb_for(sandbox, access_token, realm_id)

    return build


@pytest.fixture
def qb(make_qb: Callable[..., QuickBooks], tokens: dict[str, Any]) -> QuickBooks:
    return make_qb(tokens["access_token"])


class RawApi:
    """Plain HTTP against /v3, for what python-quickbooks cannot show (status codes, headers, raw bodies)."""

    def __init__(self, sandbox: QuickBooksSandbox, access_token: str) -> None:
        self.sandbox = sandbox
        self.access_token = access_token
        self.http = requests.Session()

    def url(self, resource: str, realm_id: str | None = None) -> str:
        return f"{self.sandbox.base_url}/v3/company/{realm_id or self.sandbox.realm_id}/{resource}"

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "Accept": "application/json",
            "Content-Type": content_type,
        }

    def get(self, resource: str, **params: str) -> requests.Response:
        return self.http.get(
            self.url(resource), headers=self.headers(), params={"minorversion": "75"} | params
        )

    def post(self, resource: str, body: str | dict[str, Any], **params: str) -> requests.Response:
        data = body if isinstance(body, str) else dumps_exact(body)
        content_type = "application/text" if resource == "query" else "application/json"
        return self.http.post(
            self.url(resource),
            data=data,
            headers=self.headers(content_type),
            params={"minorversion": "75"} | params,
        )

    def query(self, sql: str) -> dict[str, Any]:
        response = self.post("query", sql)
        assert response.status_code == 200, response.text
        return loads_exact(response.text)["QueryResponse"]


@pytest.fixture
def api(sandbox: QuickBooksSandbox, tokens: dict[str, Any]) -> RawApi:
    return RawApi(sandbox, tokens["access_token"])


Line = tuple[str, str, str | Decimal]  # (PostingType, account id, amount)
BALANCED: tuple[Line, ...] = (("Debit", "11", "100.00"), ("Credit", "6", "100.00"))


@pytest.fixture
def make_journal() -> Callable[..., JournalEntry]:
    """A python-quickbooks JournalEntry with Decimal amounts (what the connector builds)."""

    def build(
        doc_number: str | None = "CONN-0001",
        lines: tuple[Line, ...] = BALANCED,
        txn_date: str = "2025-01-31",
        class_id: str | None = None,
        department_id: str | None = None,
    ) -> JournalEntry:
        entry = JournalEntry()
        entry.DocNumber = doc_number
        entry.TxnDate = txn_date
        entry.PrivateNote = "tokenbooks test"
        for posting_type, account_id, amount in lines:
            detail = JournalEntryLineDetail()
            detail.PostingType = posting_type
            detail.AccountRef = _ref(account_id)
            if class_id is not None:
                detail.ClassRef = _ref(class_id)
            if department_id is not None:
                detail.DepartmentRef = _ref(department_id)
            line = JournalEntryLine()
            line.Amount = Decimal(amount)
            line.JournalEntryLineDetail = detail
            entry.Line.append(line)
        return entry

    return build


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    return ref


def journal_body(
    doc_number: str = "RAW-1", lines: tuple[Line, ...] = BALANCED, txn_date: str = "2025-01-31", **extra: Any
) -> dict[str, Any]:
    """A raw JournalEntry request body (amounts as given: str, Decimal or int)."""
    return {
        "DocNumber": doc_number,
        "TxnDate": txn_date,
        "Line": [
            {
                "Amount": amount,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {"PostingType": posting_type, "AccountRef": {"value": account_id}},
            }
            for posting_type, account_id, amount in lines
        ],
    } | extra


@pytest.fixture
def raw_journal() -> Callable[..., dict[str, Any]]:
    return journal_body
