"""The organisation a fresh Xero sandbox starts with: a US company on USD with an AI-spend chart.

The account codes are the ones ``mappings/example-xero.yaml`` binds its roles to; beside them stand what every
Xero organisation has and a connector must not journal to: a bank account, the Accounts Receivable / Payable
and Retained Earnings system accounts, an inventory account, and one ARCHIVED account. Tracking categories
Product and Region carry the options the example mapping uses, plus an archived option.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

__all__ = ["DEFAULT_TENANT_ID", "DEFAULT_TENANT_NAME", "seeded_organisation"]

DEFAULT_TENANT_ID = "6a1f0e37-2b8d-4c52-9a3e-7d41c0b5e8f2"
DEFAULT_TENANT_NAME = "Acme Analytics (Xero sandbox)"

# code, name, type, system account, status
CHART: list[tuple[str, str, str, str, str]] = [
    ("090", "Business Bank Account", "BANK", "", "ACTIVE"),
    ("610", "Accounts Receivable", "CURRENT", "DEBTORS", "ACTIVE"),
    ("630", "Inventory", "INVENTORY", "", "ACTIVE"),
    ("800", "Accounts Payable", "CURRLIAB", "CREDITORS", "ACTIVE"),
    ("960", "Retained Earnings", "EQUITY", "RETAINEDEARNINGS", "ACTIVE"),
    ("510", "AI COGS", "DIRECTCOSTS", "", "ACTIVE"),
    ("611", "AI R&D", "EXPENSE", "", "ACTIVE"),
    ("612", "AI Sales & Marketing", "EXPENSE", "", "ACTIVE"),
    ("613", "AI G&A", "EXPENSE", "", "ACTIVE"),
    ("618", "AI tooling (retired)", "EXPENSE", "", "ARCHIVED"),
    ("619", "AI spend suspense", "EXPENSE", "", "ACTIVE"),
    ("1350", "Prepaid AI credits", "PREPAYMENT", "", "ACTIVE"),
    ("1650", "Capitalized software", "FIXED", "", "ACTIVE"),
    ("1655", "Accumulated amortization", "FIXED", "", "ACTIVE"),
    ("2150", "Accrued AI costs", "CURRLIAB", "", "ACTIVE"),
    ("2450", "Deferred revenue", "CURRLIAB", "", "ACTIVE"),
    ("4100", "AI usage revenue", "REVENUE", "", "ACTIVE"),
    ("4150", "Breakage revenue", "OTHERINCOME", "", "ACTIVE"),
    ("6140", "Amortization expense", "DEPRECIATN", "", "ACTIVE"),
    ("6195", "Loss on expired credits", "EXPENSE", "", "ACTIVE"),
    ("6197", "Promotional AI credits", "EXPENSE", "", "ACTIVE"),
]

_CLASS_OF_TYPE = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "INVENTORY": "ASSET",
    "PREPAYMENT": "ASSET",
    "FIXED": "ASSET",
    "CURRLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "DEPRECIATN": "EXPENSE",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE",
}

# category, [(option, status)]
_TRACKING: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Product",
        [
            ("Support Assistant", "ACTIVE"),
            ("Document Search", "ACTIVE"),
            ("Platform", "ACTIVE"),
            ("Legacy Bot", "ARCHIVED"),
        ],
    ),
    ("Region", [("US", "ACTIVE"), ("EU", "ACTIVE")]),
]

_CONTACTS = ["OpenAI", "Anthropic", "Amazon Web Services"]


def account_record(code: str, name: str, account_type: str, system: str, status: str) -> dict[str, Any]:
    record = {
        "AccountID": str(uuid.uuid4()),
        "Code": code,
        "Name": name,
        "Type": account_type,
        "Status": status,
        "Class": _CLASS_OF_TYPE.get(account_type, "EXPENSE"),
        "TaxType": "NONE",
        "EnablePaymentsToAccount": False,
        "ShowInExpenseClaims": False,
        "HasAttachments": False,
    }
    if system:
        record["SystemAccount"] = system
    if account_type == "BANK":
        record |= {"BankAccountNumber": "121-000-4567", "BankAccountType": "BANK", "CurrencyCode": "USD"}
    return record


def tracking_record(name: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    category_id = str(uuid.uuid4())
    return {
        "TrackingCategoryID": category_id,
        "Name": name,
        "Status": "ACTIVE",
        "Options": [
            {
                "TrackingOptionID": str(uuid.uuid4()),
                "Name": option,
                "Status": status,
                "TrackingCategoryID": category_id,
            }
            for option, status in options
        ],
    }


def seeded_organisation(tenant_id: str, name: str, now: datetime) -> dict[str, Any]:
    """The JSON-ready state of a fresh organisation (no lock dates, no journals, no bills)."""
    return {
        "organisation": {
            "OrganisationID": tenant_id,
            "APIKey": "SANDBOXAPIKEY0000000000000000",
            "Name": name,
            "LegalName": "Acme Analytics, Inc.",
            "PaysTax": True,
            "Version": "US",
            "OrganisationType": "COMPANY",
            "BaseCurrency": "USD",
            "CountryCode": "US",
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 12,
            "SalesTaxBasis": "ACCRUAL",
            "Timezone": "EASTERNSTANDARDTIME",
            "OrganisationEntityType": "COMPANY",
            "ShortCode": "!sBx7q",
            "Class": "STANDARD",
            "Edition": "BUSINESS",
            "CreatedDateUTC": now.isoformat(),
        },
        "period_lock_date": None,
        "end_of_year_lock_date": None,
        "accounts": [account_record(*row) for row in CHART],
        "tracking": [tracking_record(category, options) for category, options in _TRACKING],
        "contacts": [
            {"ContactID": str(uuid.uuid4()), "Name": contact, "ContactStatus": "ACTIVE", "IsSupplier": True}
            for contact in _CONTACTS
        ],
        "journals": [],
        "invoices": [],
    }
