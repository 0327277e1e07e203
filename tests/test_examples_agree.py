"""The example files a new user copies agree with each other: entities, provider accounts, products and
the Xero sandbox's chart, so following the README does not end in an unknown account or entity."""

import csv
import io
import re
from pathlib import Path

from connector.domain.chart import LedgerAccount, LedgerChart, check_targets
from connector.domain.mapping import ROLES
from connector.domain.policy_file import parse_policies
from connector.sandbox.xero_seed import CHART
from tests.support import mapping

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"


def _policies():
    policies, problems = parse_policies((MAPPINGS / "policies.yaml").read_text(), "policies.yaml")
    assert policies is not None, problems
    return policies


def _setting(name: str) -> str:
    [value] = re.findall(rf"^{name}=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    return value


def _doc_csv(doc: str, header: str) -> list[dict[str, str]]:
    text = (ROOT / "docs" / doc).read_text()
    block = text[text.index(header) :].split("```", 1)[0]
    return list(csv.DictReader(io.StringIO(block)))


def test_the_example_policies_book_the_example_accounts_in_both_example_mappings():
    openai = _setting("TOKENBOOKS_OPENAI__ORGANIZATION")
    anthropic = _setting("TOKENBOOKS_ANTHROPIC__ORGANIZATION")
    policies = _policies()
    for name in ("example.yaml", "example-xero.yaml"):
        for entity in mapping((MAPPINGS / name).read_text(), name).entities:
            policy = policies.entity(entity.id)
            assert policy.account("openai", openai).account == openai, name
            assert policy.account("anthropic", anthropic).billing.value == "prepaid", name


def test_the_example_files_name_the_provider_accounts_env_example_configures():
    openai = _setting("TOKENBOOKS_OPENAI__ORGANIZATION")
    anthropic = _setting("TOKENBOOKS_ANTHROPIC__ORGANIZATION")
    accounts = {(a.provider, a.account) for a in _policies().defaults.accounts}
    assert {("openai", openai), ("anthropic", anthropic)} <= accounts
    invoices = _doc_csv("invoices.md", "provider,account,number")
    assert {(row["provider"], row["account"]) for row in invoices} == {("openai", openai)}
    lots = _doc_csv("credits.md", "lot_id,provider,account")
    assert {(row["provider"], row["account"]) for row in lots} == {
        ("openai", openai),
        ("anthropic", anthropic),
    }


def test_the_products_of_the_example_credits_sold_have_an_expected_breakage():
    policy = _policies().entity("acme-us")
    for row in _doc_csv("credits.md", "event_id,customer,grant"):
        if row["kind"] == "purchase":
            assert policy.unknown_product(row["product"]) == ""


def test_the_xero_codes_of_both_example_mappings_are_the_xero_sandbox_chart():
    chart = LedgerChart(
        "xero",
        tuple(
            LedgerAccount(code, name, code, kind, status == "ACTIVE") for code, name, kind, _, status in CHART
        ),
        (),
    )
    xero = mapping(
        (MAPPINGS / "example.yaml").read_text().replace("ledger: quickbooks", "ledger: xero"), "example.yaml"
    )
    problems = [p for p in check_targets(xero, "acme-us", chart) if "roles." in p.field]
    assert problems == []
    roles = {
        name: dict(targets)["xero"].account
        for name, targets in mapping((MAPPINGS / "example-xero.yaml").read_text(), "x").roles
    }
    assert {name: dict(targets)["xero"].account for name, targets in xero.roles} == roles


def test_every_role_the_books_can_ask_for_is_bound_in_the_shipped_mappings_for_each_of_their_ledgers():
    """A role left unbound fails the first night that needs it (a promotional credit lot, a sold credit's
    breakage) with `MissingRole`: every shipped mapping binds every role for every ledger it names."""
    shipped = [
        MAPPINGS / "example.yaml",
        MAPPINGS / "example-xero.yaml",
        ROOT / "deploy" / "kubernetes" / "config" / "mapping.yaml",
    ]
    for path in shipped:
        parsed = mapping(path.read_text(), path.name)
        ledgers = {entity.ledger for entity in parsed.entities}
        unbound = sorted(
            (role, ledger) for role in ROLES for ledger in ledgers if not parsed.has_role(role, ledger)
        )
        assert unbound == [], f"{path.name}: roles without an account: {unbound}"
