"""Importing files from the console: an accountant uploads, the import runs as `tokenbooks import …` does
(rows checked, bad ones quarantined with row, column and fix, the tally conserved), and the upload is an
audit event with the person's name; other roles are refused, and a form without the CSRF token does
nothing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connector.store.repositories import UnitOfWork
from connector.store.tables import InvoiceRow
from tests.service.conftest import World
from tests.sources.builders import focus_csv, focus_row
from tests.web.conftest import sign_in

HEADER = "provider,account,number,period,issue_date,total,currency\n"
INVOICES = (
    HEADER
    + "openai,org-1,INV-0042,2026-10,2026-11-03,1280.40,USD\n"
    + "openai,org-1,INV-0043,2026-09,2026-10-03,1,310.00,USD\n"  # a thousands separator: one column too many
    + "openai,org-1,INV-0044,2026-08,2026-09-03,99.5O,USD\n"  # the letter O for a zero
)


def _upload(client: TestClient, csrf: str | None, kind: str, *files: tuple[str, bytes], **fields: str):
    data = {"kind": kind, **fields}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(
        "/imports", data=data, files=[("files", (name, content, "text/csv")) for name, content in files]
    )


def _invoices(world: World) -> list[str]:
    with UnitOfWork(world.app.engine) as uow:
        return sorted(r.number for r in uow.session.query(InvoiceRow).all())


def test_an_accountant_imports_invoices_and_sees_the_tally_and_each_quarantined_row(
    client: TestClient, console_world: World
):
    csrf = sign_in(client, "ann")
    page = client.get("/imports")
    assert 'enctype="multipart/form-data"' in page.text
    answer = _upload(client, csrf, "invoices", ("october invoices.csv", INVOICES.encode()))
    assert answer.status_code == 200, answer.text[:3000]
    html = answer.text
    assert "partial" in html
    assert re.search(
        r"Accepted</th><td class=\"r num\">1</td>\s*<td class=\"r\"><span class=\"num\">1,280.40</span> USD",
        html,
    )
    assert re.search(r"Quarantined</th><td class=\"r num\">2</td>", html)
    assert re.search(r"Read from the file</th><td class=\"r num\">3</td>", html)
    assert "conserved" in html
    assert "not conserved" not in html
    assert "row 3" in html
    assert "row 4" in html
    assert "total" in html
    assert "Fix" in html
    assert _invoices(console_world) == ["INV-0042"]

    with UnitOfWork(console_world.app.engine) as uow:
        [event] = uow.events.of_kind("import.uploaded")
        [run] = [r for r in uow.runs.latest(50) if r.kind == "import.invoices"]
    assert event.actor == "ann"
    assert run.actor == "ann"  # the import's run is hers too
    [kept] = event.data["files"]
    assert kept["name"] == "october_invoices.csv"
    assert kept["sha256"] == hashlib.sha256(INVOICES.encode()).hexdigest()
    assert Path(kept["path"]).read_text() == INVOICES  # kept in the data directory for the lineage
    assert event.data["status"] == "partial"
    assert "october_invoices.csv" in client.get("/imports").text  # the recent imports list it


def test_an_unreadable_file_stores_nothing_and_says_where_and_how_to_fix_it(
    client: TestClient, console_world: World
):
    csrf = sign_in(client, "ann")
    broken = b'{"invoices": [\n  {"provider": "openai",\n}'
    answer = _upload(client, csrf, "invoices", ("../../etc/inv.json", broken))
    assert answer.status_code == 422
    assert "Nothing was stored" in answer.text
    assert "not valid JSON" in answer.text
    assert re.search(r"line \d", answer.text)
    assert "Traceback" not in answer.text
    assert _invoices(console_world) == []
    with UnitOfWork(console_world.app.engine) as uow:
        [event] = uow.events.of_kind("import.uploaded")
        [run] = [r for r in uow.runs.latest(50) if r.kind == "import.invoices"]
    assert run.status == "failed"
    assert event.data["files"][0]["name"] == "inv.json"  # no folder of the browser's name is followed
    assert (
        Path(event.data["files"][0]["path"]).parent.parent == console_world.app.settings.data_dir / "imports"
    )


def test_a_focus_export_is_imported_from_the_console(client: TestClient, console_world: World, tmp_path):
    csrf = sign_in(client, "ann")
    path = focus_csv(
        tmp_path / "bedrock.csv",
        [focus_row("1.25", hour=h) for h in range(3)] + [focus_row("2.5x", hour=5)],
    )
    answer = _upload(client, csrf, "focus", ("bedrock.csv", path.read_bytes()))
    assert answer.status_code == 200, answer.text[:3000]
    assert re.search(
        r"Accepted</th><td class=\"r num\">3</td>\s*<td class=\"r\"><span class=\"num\">3.75</span> USD",
        answer.text,
    )
    assert "row 5" in answer.text
    assert "BilledCost" in answer.text


@pytest.mark.parametrize("username", ["ada", "carl", "april"])
def test_only_accountants_import(client: TestClient, console_world: World, username: str):
    csrf = sign_in(client, username)
    assert "Only accountants import files" in client.get("/imports").text
    refused = _upload(client, csrf, "invoices", ("inv.csv", INVOICES.encode()))
    assert refused.status_code == 403
    assert _invoices(console_world) == []


def test_an_upload_without_the_sessions_csrf_token_does_nothing(client: TestClient, console_world: World):
    sign_in(client, "ann")
    assert _upload(client, None, "invoices", ("inv.csv", INVOICES.encode())).status_code == 403
    assert _upload(client, "forged", "invoices", ("inv.csv", INVOICES.encode())).status_code == 403
    assert _invoices(console_world) == []
    assert not (console_world.app.settings.data_dir / "imports").exists()
