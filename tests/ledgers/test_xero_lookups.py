"""Looking journals up by key in Xero without outgrowing the gateway's URL limit, and as many journals per
PUT as docs/xero.md says."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest

from connector.ledgers.port import PostOutcome, PostRequest
from connector.ledgers.xero.adapter import CHUNK_SIZE, lookup_chunks
from connector.sandbox.xero import URL_LIMIT, XERO_ORIGIN
from tests.xero_support import journal, running_xero

KEYS = [f"TB-AC-261003-{n:03d}" for n in range(1, 51)]


@pytest.fixture
def rig():
    with running_xero(check_requests=True) as running:
        running.connect()
        yield running


def lookups(rig) -> list[dict]:
    return [r for r in rig.box.requests if r["method"] == "GET" and r["path"].endswith("/ManualJournals")]


def real_url_length(entry: dict) -> int:
    """The length of the logged request's URL as Xero's gateway would see it."""
    return len(XERO_ORIGIN) + len(entry["path"]) + 1 + len(urlencode(entry["params"]))


def test_a_lost_put_of_fifty_journals_is_settled_by_lookups_that_fit_the_gateway(rig):
    ledger = rig.ledger()
    assert ledger.journals_per_request == CHUNK_SIZE == 50  # docs/xero.md: up to 50 journals a PUT
    requests_ = [PostRequest(journal(key, "1.00"), str(uuid.uuid5(uuid.NAMESPACE_URL, key))) for key in KEYS]
    rig.box.write_faults.queue("lost_response", delay_seconds=0)  # the 50 are created, the answer is lost
    results = ledger.post(requests_)
    assert {r.outcome for r in results} == {PostOutcome.FOUND}
    assert len(rig.writes()) == 1
    assert len(rig.live_journals()) == 50  # found, not created again
    made = lookups(rig)
    assert len(made) == 2  # ~52 characters a key: 37 keys fit a lookup, 13 go in a second
    assert all(entry["status"] == 200 for entry in made)
    assert all(real_url_length(entry) <= URL_LIMIT for entry in made)


def test_find_many_of_any_number_of_keys_makes_no_lookup_the_gateway_refuses(rig):
    ledger = rig.ledger()
    ledger.post([PostRequest(journal(KEYS[-1]), str(uuid.uuid4()))])
    found = ledger.find_many(KEYS * 3)  # repeated keys are looked up once
    assert set(found) == {KEYS[-1]}
    assert all(entry["status"] == 200 for entry in lookups(rig))


def test_lookup_chunks_are_sized_by_url_length_not_by_count():
    base = f"{XERO_ORIGIN}/api.xro/2.0/ManualJournals"
    chunks = lookup_chunks(base, KEYS)
    assert [key for chunk in chunks for key in chunk] == KEYS
    assert [len(chunk) for chunk in chunks] == [37, 13]
    longer = [f"{key}-with-a-much-longer-suffix" for key in KEYS]
    assert len(lookup_chunks(base, longer)[0]) < 37  # longer keys, fewer per lookup


def test_the_sandbox_refuses_a_url_past_the_gateway_limit_as_xero_does(rig):
    tokens = rig.connect()
    where = " OR ".join(f'Narration.StartsWith("{key}")' for key in KEYS)
    answer = rig.api(
        "GET", "/ManualJournals", token=tokens.access_token, tenant=tokens.company_id, params={"where": where}
    )
    assert answer.status_code == 404
    assert "The resource you're looking for cannot be found" in answer.text
