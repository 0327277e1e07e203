"""JournalEntry create / read / update / delete and validation, through the real python-quickbooks client."""

from __future__ import annotations

from decimal import Decimal

import pytest
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException, ValidationException
from quickbooks.objects.bill import Bill
from quickbooks.objects.journalentry import JournalEntry

from connector.sandbox.common import loads_exact


def test_saved_entry_round_trips_with_exact_decimals_and_moves_balances(sandbox, qb, make_journal):
    lines = (("Debit", "11", "1234.56"), ("Debit", "10", "0.10"), ("Credit", "6", "1234.66"))
    saved = make_journal("CONN-0001", lines, class_id="102", department_id="200").save(
        qb=qb, request_id="r-1"
    )

    fetched = JournalEntry.get(saved.Id, qb=qb)
    assert fetched.DocNumber == "CONN-0001"
    assert fetched.TxnDate == "2025-01-31"
    assert fetched.SyncToken == "0"
    assert fetched.TotalAmt == Decimal("1234.66")
    assert [line.Amount for line in fetched.Line] == [Decimal("1234.56"), Decimal("0.10"), Decimal("1234.66")]
    assert all(isinstance(line.Amount, Decimal) for line in fetched.Line)
    assert [line.Id for line in fetched.Line] == ["0", "1", "2"]
    assert [line.LineNum for line in fetched.Line] == [1, 2, 3]
    detail = fetched.Line[0].JournalEntryLineDetail
    assert (detail.AccountRef.value, detail.AccountRef.name) == ("11", "AI R&D")
    assert (detail.ClassRef.name, detail.DepartmentRef.name) == ("Engineering", "US")
    assert fetched.MetaData["CreateTime"] == "2025-02-03T09:00:00.000+00:00"
    assert sandbox.account("11")["CurrentBalance"] == Decimal("1234.56")
    assert sandbox.account("10")["CurrentBalance"] == Decimal("0.10")
    assert sandbox.account("6")["CurrentBalance"] == Decimal("1234.66")  # a liability grows with credits


def test_amounts_are_emitted_as_json_numbers_with_their_exact_text(api, raw_journal):
    body = raw_journal(lines=(("Debit", "11", Decimal("100.10")), ("Credit", "6", "100.10")))
    response = api.post("journalentry", body)
    assert response.status_code == 200
    assert '"Amount":100.10' in response.text
    assert '"TotalAmt":100.10' in response.text
    assert '"time":' in response.text


def test_request_id_replays_the_original_response_without_creating_twice(sandbox, qb, make_journal):
    first = make_journal("CONN-0002").save(qb=qb, request_id="batch42-je1")
    again = make_journal("CONN-0002").save(qb=qb, request_id="batch42-je1")
    assert again.Id == first.Id
    assert len(sandbox.journal_entries()) == 1
    assert sandbox.account("11")["CurrentBalance"] == Decimal("100.00")
    assert [entry["replayed"] for entry in sandbox.requests] == [False, True]
    assert sandbox.requests[0]["requestid"] == "batch42-je1"
    assert sandbox.requests[0]["minorversion"] == "75"


def test_request_id_replays_an_error_response_too(sandbox, api, raw_journal):
    unbalanced = raw_journal(lines=(("Debit", "11", "5"), ("Credit", "6", "4")))
    first = api.post("journalentry", unbalanced, requestid="err-1")
    fixed = api.post("journalentry", raw_journal(), requestid="err-1")
    assert first.status_code == fixed.status_code == 400
    assert first.text == fixed.text
    assert sandbox.journal_entries() == []


def test_request_id_longer_than_50_characters_is_refused(api, raw_journal):
    response = api.post("journalentry", raw_journal(), requestid="x" * 51)
    assert response.status_code == 400
    assert loads_exact(response.text)["Fault"]["type"] == "ValidationFault"


def test_filter_by_doc_number_finds_the_entry(qb, make_journal):
    saved = make_journal("CONN-O'Brien").save(qb=qb)
    make_journal("CONN-OTHER").save(qb=qb)
    found = JournalEntry.filter(DocNumber="CONN-O'Brien", qb=qb)
    assert [entry.Id for entry in found] == [saved.Id]
    assert JournalEntry.filter(DocNumber="CONN-MISSING", qb=qb) == []


def test_duplicate_doc_number_is_6140(qb, make_journal):
    first = make_journal("CONN-DUP").save(qb=qb)
    with pytest.raises(QuickbooksException) as caught:
        make_journal("CONN-DUP").save(qb=qb)
    assert caught.value.error_code == 6140
    assert caught.value.message == "Duplicate Document Number Error"
    assert caught.value.detail == (
        "Duplicate Document Number Error : You must specify a different number. This number has already been "
        f"used. DocNumber=CONN-DUP is assigned to TxnType=Journal Entry with TxnId={first.Id}"
    )


def test_duplicates_pass_with_allowduplicatedocnum_or_when_the_preference_is_off(sandbox, qb, make_journal):
    make_journal("CONN-DUP").save(qb=qb)
    make_journal("CONN-DUP").save(qb=qb, params={"include": "allowduplicatedocnum"})
    sandbox.set_preference("WarnDuplicateJournalNumber", False)
    make_journal("CONN-DUP").save(qb=qb)
    assert [entry["DocNumber"] for entry in sandbox.journal_entries()] == ["CONN-DUP"] * 3


def test_posting_on_or_before_the_book_close_date_is_6210(sandbox, qb, make_journal):
    open_entry = make_journal("CONN-OPEN", txn_date="2025-01-31").save(qb=qb)
    sandbox.set_book_close_date("2025-01-31")
    with pytest.raises(QuickbooksException) as caught:
        make_journal("CONN-CLOSED", txn_date="2025-01-31").save(qb=qb)
    assert caught.value.error_code == 6210
    assert caught.value.message == "Account Period Closed"
    assert "cannot be updated through the QBO Services API" in caught.value.detail
    # Editing or deleting an entry inside the closed period is refused too; after the date is fine.
    with pytest.raises(QuickbooksException) as caught:
        JournalEntry.get(open_entry.Id, qb=qb).delete(qb=qb)
    assert caught.value.error_code == 6210
    assert make_journal("CONN-FEB", txn_date="2025-02-01").save(qb=qb).Id


def test_unbalanced_entry_is_6000_naming_both_totals(sandbox, qb, make_journal):
    lines = (("Debit", "11", "100.00"), ("Credit", "6", "99.99"))
    with pytest.raises(QuickbooksException) as caught:
        make_journal("CONN-UNBAL", lines).save(qb=qb)
    assert caught.value.error_code == 6000
    assert "Debits and credits must be equal" in caught.value.detail
    assert "Total debits: 100.00, total credits: 99.99" in caught.value.detail
    assert sandbox.journal_entries() == []


def test_unknown_account_is_2500_and_inactive_account_is_6000(qb, make_journal):
    with pytest.raises(ValidationException) as unknown:
        make_journal("A", (("Debit", "999", "1"), ("Credit", "6", "1"))).save(qb=qb)
    assert unknown.value.error_code == 2500
    assert unknown.value.message == "Invalid Reference Id"
    assert "999" in unknown.value.detail

    with pytest.raises(QuickbooksException) as inactive:
        make_journal("B", (("Debit", "17", "1"), ("Credit", "6", "1"))).save(qb=qb)
    assert inactive.value.error_code == 6000
    assert "Legacy AI tools" in inactive.value.detail


def test_unknown_or_inactive_class_and_department_are_2500(sandbox, qb, make_journal):
    sandbox.set_class_active("103", False)
    for kwargs in ({"class_id": "103"}, {"class_id": "999"}, {"department_id": "299"}):
        with pytest.raises(ValidationException) as caught:
            make_journal("C", **kwargs).save(qb=qb)
        assert caught.value.error_code == 2500


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda body: body | {"Id": "0"}, "2010"),
        (lambda body: body | {"Bogus": 1}, "2010"),
        (lambda body: body | {"Line": body["Line"][:1]}, "2020"),
        (lambda body: body | {"Line": []}, "2020"),
        (lambda body: _first_line(body, Amount="-5"), "2010"),
        (lambda body: _first_line(body, Amount="ten"), "2010"),
        (lambda body: _first_line(body, Amount="12345678901.00"), "2010"),
        (lambda body: _first_line(body, Amount="1.000001"), "2010"),
        (lambda body: _first_line(body, Amount=None), "2020"),
        (lambda body: _first_detail(body, PostingType="Sideways"), "2170"),
        (lambda body: _first_detail(body, BillableStatus=""), "2010"),
        (lambda body: body | {"DocNumber": "D" * 22}, "6000"),
        (lambda body: body | {"TxnDate": "31/01/2025"}, "2010"),
        (lambda body: body | {"CurrencyRef": {"value": "EUR"}}, "6000"),
    ],
)
def test_invalid_bodies_get_the_validation_fault_envelope(api, raw_journal, mutate, code):
    response = api.post("journalentry", mutate(raw_journal()))
    assert response.status_code == 400
    envelope = loads_exact(response.text)
    assert envelope["Fault"]["type"] == "ValidationFault"
    assert envelope["Fault"]["Error"][0]["code"] == code
    assert set(envelope["Fault"]["Error"][0]) == {"Message", "Detail", "code", "element"}
    assert "time" in envelope


def _first_line(body, **changes):
    body["Line"][0] |= changes
    return body


def _first_detail(body, **changes):
    body["Line"][0]["JournalEntryLineDetail"] |= changes
    return body


def test_multicurrency_requires_currency_ref(sandbox, api, raw_journal):
    sandbox.set_preference("MultiCurrencyEnabled", True)
    missing = api.post("journalentry", raw_journal())
    assert loads_exact(missing.text)["Fault"]["Error"][0]["code"] == "6000"
    euro = raw_journal(CurrencyRef={"value": "EUR"}, ExchangeRate="1.10")
    response = api.post("journalentry", euro)
    assert response.status_code == 200, response.text
    assert loads_exact(response.text)["JournalEntry"]["HomeTotalAmt"] == Decimal("110.0000")
    assert sandbox.account("11")["CurrentBalance"] == Decimal("110.0000")


def test_update_bumps_sync_token_and_a_stale_one_is_5010(sandbox, qb, make_journal):
    saved = make_journal("CONN-UPD").save(qb=qb)
    current = JournalEntry.get(saved.Id, qb=qb)
    stale = JournalEntry.get(saved.Id, qb=qb)
    current.Line[0].Amount = Decimal("250.00")
    current.Line[1].Amount = Decimal("250.00")
    updated = current.save(qb=qb)
    assert updated.SyncToken == "1"
    assert sandbox.account("11")["CurrentBalance"] == Decimal("250.00")
    with pytest.raises(QuickbooksException) as caught:
        stale.save(qb=qb)
    assert caught.value.error_code == 5010
    assert caught.value.message == "Stale Object Error"


def test_delete_answers_deleted_and_reverses_balances(sandbox, qb, api, make_journal):
    saved = make_journal("CONN-DEL").save(qb=qb)
    answer = JournalEntry.get(saved.Id, qb=qb).delete(qb=qb)
    assert answer["JournalEntry"] == {"status": "Deleted", "domain": "QBO", "Id": saved.Id}
    assert sandbox.account("11")["CurrentBalance"] == Decimal("0.00")
    with pytest.raises(ObjectNotFoundException) as caught:
        JournalEntry.get(saved.Id, qb=qb)
    assert caught.value.error_code == 610
    assert api.get("journalentry/424242").status_code == 400


def test_python_quickbooks_default_fields_are_accepted(api):
    """The exact JSON python-quickbooks produces (erps.md §3.3), with Decimal amounts sent as strings."""
    line = {
        "Amount": "42.00",
        "CustomField": [],
        "DetailType": "JournalEntryLineDetail",
        "LineNum": 0,
        "LinkedTxn": [],
        "JournalEntryLineDetail": {
            "AccountRef": {"name": "", "type": "", "value": "11"},
            "PostingType": "Debit",
            "TaxAmount": 0,
            "TaxApplicableOn": "Sales",
            "Entity": {"Type": ""},
        },
    }
    credit = {**line, "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "6"}}}
    body = {"Adjustment": False, "DocNumber": "PQ-1", "ExchangeRate": 1, "Line": [line, credit]}
    body |= {
        "PrivateNote": "",
        "SyncToken": 0,
        "TotalAmt": 0,
        "TxnDate": "",
        "domain": "QBO",
        "sparse": False,
    }
    response = api.post("journalentry", body)
    assert response.status_code == 200, response.text
    assert loads_exact(response.text)["JournalEntry"]["TxnDate"] == "2025-02-03"  # the server's date


def test_bill_create_and_read(sandbox, qb):
    bill = Bill.from_json(
        {
            "VendorRef": {"value": "301"},
            "DocNumber": "INV-9",
            "TxnDate": "2025-02-01",
            "Line": [
                {
                    "Amount": "12.50",
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "11"}},
                }
            ],
        }
    )
    saved = bill.save(qb=qb)
    fetched = Bill.get(saved.Id, qb=qb)
    assert fetched.TotalAmt == Decimal("12.50")
    assert fetched.VendorRef.name == "Anthropic"
    assert sandbox.account("5")["CurrentBalance"] == Decimal("12.50")
