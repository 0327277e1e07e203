"""The query-language subset over HTTP: COUNT, IN, LIKE, ORDERBY, paging, name-list defaults, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from quickbooks.exceptions import ValidationException
from quickbooks.objects.account import Account
from quickbooks.objects.journalentry import JournalEntry
from quickbooks.objects.trackingclass import Class

from connector.sandbox.common import loads_exact


@pytest.fixture
def five_entries(qb, make_journal, clock):
    saved = []
    for number, amount in enumerate(("10.00", "20.00", "30.00", "40.00", "50.00"), start=1):
        lines = (("Debit", "11", amount), ("Credit", "6", amount))
        saved.append(make_journal(f"Q-{number}", lines, txn_date=f"2025-01-0{number}").save(qb=qb))
        clock.advance(seconds=60)
    return saved


def test_count_in_and_like(qb, five_entries):
    assert JournalEntry.count("", qb=qb) == 5
    assert JournalEntry.count("DocNumber LIKE 'Q-%'", qb=qb) == 5
    assert JournalEntry.count("TotalAmt >= '30.00'", qb=qb) == 3
    chosen = JournalEntry.choose(["Q-2", "Q-4", "Q-9"], field="DocNumber", qb=qb)
    assert sorted(entry.DocNumber for entry in chosen) == ["Q-2", "Q-4"]
    assert [e.DocNumber for e in JournalEntry.where("DocNumber LIKE '%-3'", qb=qb)] == ["Q-3"]


def test_order_by_and_paging(qb, api, five_entries):
    newest_first = JournalEntry.where("", order_by="TxnDate DESC", qb=qb)
    assert [e.DocNumber for e in newest_first] == ["Q-5", "Q-4", "Q-3", "Q-2", "Q-1"]
    page = api.query(
        "SELECT * FROM JournalEntry ORDER BY MetaData.LastUpdatedTime STARTPOSITION 2 MAXRESULTS 2"
    )
    assert [e["DocNumber"] for e in page["JournalEntry"]] == ["Q-2", "Q-3"]
    assert (page["startPosition"], page["maxResults"]) == (2, 2)
    assert api.query("SELECT * FROM JournalEntry STARTPOSITION 6") == {}


def test_dotted_fields_compare_as_timestamps(api, five_entries):
    later = api.query(
        "SELECT * FROM JournalEntry WHERE MetaData.LastUpdatedTime > '2025-02-03T01:02:30-08:00'"
    )
    # 09:02:30 UTC: entries were stamped 09:00, 09:01, 09:02, 09:03 and 09:04.
    assert [e["DocNumber"] for e in later["JournalEntry"]] == ["Q-4", "Q-5"]


def test_get_query_and_entity_keywords_are_case_insensitive(api, five_entries):
    response = api.get("query", query="select count(*) from journalentry where DocNumber in ('Q-1', 'Q-2')")
    assert response.status_code == 200
    assert loads_exact(response.text)["QueryResponse"] == {"totalCount": 2}


def test_name_lists_return_only_active_rows_unless_asked(qb, api):
    accounts = Account.all(qb=qb)
    assert len(accounts) == 17
    assert all(account.Active for account in accounts)
    everything = api.query("SELECT * FROM Account WHERE Active IN (true, false) MAXRESULTS 1000")
    assert len(everything["Account"]) == 18
    legacy = Account.where("Active = false", qb=qb)
    assert [(a.Id, a.AcctNum, a.Name) for a in legacy] == [("17", "6199", "Legacy AI tools")]
    assert [c.Name for c in Class.filter(Name="Growth", qb=qb)] == ["Growth"]


def test_seeded_chart_of_accounts(api):
    rows = api.query("SELECT * FROM Account WHERE Active IN (true, false) ORDERBY Id")["Account"]
    assert [(r["Id"], r["AcctNum"], r["Name"], r["AccountType"]) for r in rows[:3]] == [
        ("1", "1000", "Checking", "Bank"),
        ("2", "1350", "Prepaid AI credits", "Other Current Asset"),
        ("3", "1650", "Capitalized software", "Other Asset"),
    ]
    assert all(r["FullyQualifiedName"] == r["Name"] and r["CurrentBalance"] == Decimal(0) for r in rows)
    assert {r["Classification"] for r in rows} == {"Asset", "Liability", "Revenue", "Expense"}
    assert [d["Name"] for d in api.query("SELECT * FROM Department")["Department"]] == ["US", "EU"]
    assert [v["DisplayName"] for v in api.query("SELECT * FROM Vendor")["Vendor"]] == ["OpenAI", "Anthropic"]


def test_preferences_and_company_info(api):
    prefs = api.query("SELECT * FROM Preferences")["Preferences"][0]
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    assert {"Name": "WarnDuplicateJournalNumber", "Value": "true"} in prefs["OtherPrefs"]["NameValue"]
    assert "BookCloseDate" not in prefs["AccountingInfoPrefs"]
    direct = loads_exact(api.get("preferences").text)
    assert direct["Preferences"]["AccountingInfoPrefs"]["ClassTrackingPerTxnLine"] is True
    info = loads_exact(api.get(f"companyinfo/{api.sandbox.realm_id}").text)
    assert info["CompanyInfo"]["CompanyName"] == "Tokenbooks Sandbox Company"


def test_projection_and_empty_result(api, five_entries):
    rows = api.query("SELECT DocNumber FROM JournalEntry WHERE DocNumber = 'Q-1'")["JournalEntry"]
    assert set(rows[0]) == {"DocNumber", "Id", "SyncToken", "domain", "sparse"}
    assert api.query("SELECT * FROM Bill") == {}


@pytest.mark.parametrize(
    ("sql", "code", "fragment"),
    [
        (
            "SELECT * FROM JournalEntry WHERE DocNumber = 'A' OR DocNumber = 'B'",
            "4000",
            "OR is not supported",
        ),
        ("SELECT * FROM Invoice", "4000", "Invoice"),
        ("SELECT * FROM JournalEntry WHERE DocNumber = 'unterminated", "4000", "Unterminated"),
        ("SELECT * FROM JournalEntry WHERE DocNumber 'x'", "4000", "expected an operator"),
        ("SELECT * FROM JournalEntry MAXRESULTS many", "4000", "MAXRESULTS"),
        ("DELETE FROM JournalEntry", "4000", "SELECT"),
        ("SELECT * FROM JournalEntry WHERE Colour = 'red'", "4001", "Colour"),
    ],
)
def test_parser_errors(api, sql, code, fragment):
    response = api.post("query", sql)
    assert response.status_code == 400
    error = loads_exact(response.text)["Fault"]["Error"][0]
    assert error["code"] == code
    assert fragment in error["Detail"]


def test_python_quickbooks_raises_validation_exception_on_a_parser_error(qb):
    with pytest.raises(ValidationException) as caught:
        JournalEntry.query("SELECT * FROM JournalEntry WHERE", qb=qb)
    assert caught.value.error_code == 4000
