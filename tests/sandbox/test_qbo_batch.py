"""The batch endpoint: per-item results, the 30-item cap, requestid rules and replay."""

from __future__ import annotations

from decimal import Decimal

from quickbooks.batch import batch_create, batch_delete
from quickbooks.objects.journalentry import JournalEntry

from connector.sandbox.common import loads_exact


def test_batch_of_30_with_one_bad_item_gives_29_successes_and_1_fault(sandbox, qb, make_journal):
    entries = [make_journal(f"B-{n:02d}") for n in range(30)]
    entries[17] = make_journal("B-17", (("Debit", "999", "100.00"), ("Credit", "6", "100.00")))
    result = batch_create(entries, qb=qb)
    assert len(result.successes) == 29
    assert len(result.faults) == 1
    fault = result.faults[0]
    assert fault.original_object is entries[17]
    assert fault.Error[0].code == "2500"
    assert fault.type == "ValidationFault"
    assert all(isinstance(entry.Id, str) for entry in result.successes)
    assert len(sandbox.journal_entries()) == 29
    assert sandbox.account("11")["CurrentBalance"] == Decimal("2900.00")
    batch_requests = [r for r in sandbox.requests if r["path"].endswith("/batch")]
    assert [r["status"] for r in batch_requests] == [200]


def test_batch_delete_through_python_quickbooks(sandbox, qb, make_journal):
    saved = [make_journal(f"D-{n}").save(qb=qb) for n in range(3)]
    result = batch_delete([JournalEntry.get(entry.Id, qb=qb) for entry in saved], qb=qb)
    assert len(result.faults) == 0
    assert sandbox.journal_entries() == []


def _items(raw_journal, count, prefix="X"):
    return [
        {"bId": f"{prefix}{n}", "operation": "create", "JournalEntry": raw_journal(f"{prefix}-{n}")}
        for n in range(count)
    ]


def test_more_than_30_items_are_refused_whole(sandbox, api, raw_journal):
    response = api.post("batch", {"BatchItemRequest": _items(raw_journal, 31)})
    assert response.status_code == 400
    assert loads_exact(response.text)["Fault"]["type"] == "ValidationFault"
    assert sandbox.journal_entries() == []


def test_batch_mixes_writes_queries_and_per_item_faults(api, raw_journal):
    items = [
        {"bId": "q1", "Query": "SELECT COUNT(*) FROM Account"},
        {"bId": "c1", "operation": "create", "JournalEntry": raw_journal("MIX-1")},
        {"bId": "c2", "operation": "create", "JournalEntry": raw_journal("MIX-2") | {"Id": "5"}},
        {"bId": "c3", "operation": "explode", "JournalEntry": raw_journal("MIX-3")},
    ]
    response = api.post("batch", {"BatchItemRequest": items})
    assert response.status_code == 200
    answers = {answer["bId"]: answer for answer in loads_exact(response.text)["BatchItemResponse"]}
    assert answers["q1"]["QueryResponse"] == {"totalCount": 17}
    assert answers["c1"]["JournalEntry"]["DocNumber"] == "MIX-1"
    assert answers["c2"]["Fault"]["Error"][0]["code"] == "2010"
    assert answers["c3"]["Fault"]["Error"][0]["code"] == "2170"


def test_items_of_one_batch_do_not_see_each_others_doc_numbers(sandbox, api, raw_journal):
    api.post("journalentry", raw_journal("SEEN"))
    items = [
        {"bId": "a", "operation": "create", "JournalEntry": raw_journal("TWIN")},
        {"bId": "b", "operation": "create", "JournalEntry": raw_journal("TWIN")},
        {"bId": "c", "operation": "create", "JournalEntry": raw_journal("SEEN")},
    ]
    answers = loads_exact(api.post("batch", {"BatchItemRequest": items}).text)["BatchItemResponse"]
    assert "JournalEntry" in answers[0]
    assert "JournalEntry" in answers[1]
    assert answers[2]["Fault"]["Error"][0]["code"] == "6140"


def test_batch_requestid_rules_and_replay(sandbox, api, raw_journal):
    too_long_id = api.post("batch", {"BatchItemRequest": _items(raw_journal, 1)}, requestid="r" * 37)
    assert too_long_id.status_code == 400
    long_bid = [{"bId": "b" * 11, "operation": "create", "JournalEntry": raw_journal("LONG")}]
    assert api.post("batch", {"BatchItemRequest": long_bid}, requestid="batch-1").status_code == 400
    assert api.post("batch", {"BatchItemRequest": long_bid}).status_code == 200  # no requestid, no bId limit

    items = _items(raw_journal, 2, prefix="R")
    first = api.post("batch", {"BatchItemRequest": items}, requestid="batch-2")
    again = api.post("batch", {"BatchItemRequest": items}, requestid="batch-2")
    assert first.status_code == again.status_code == 200
    assert first.text == again.text
    assert [e["DocNumber"] for e in sandbox.journal_entries()] == ["LONG", "R-0", "R-1"]
