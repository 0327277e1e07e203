"""What a fresh sandbox company contains, and the JSON shape of each name-list entity.

The chart of accounts, classes, departments, vendors and preferences are the ones the tokenbooks tests and
``tokenbooks demo`` are written against; change them only together with those.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = [
    "CLASSIFICATION_BY_TYPE",
    "CURRENCY_NAMES",
    "currency_ref",
    "make_account",
    "make_department",
    "make_tracking_class",
    "make_vendor",
    "seed_company",
]

# (Id, AcctNum, Name, AccountType, AccountSubType, Active)
SEED_ACCOUNTS: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("1", "1000", "Checking", "Bank", "Checking", True),
    ("2", "1350", "Prepaid AI credits", "Other Current Asset", "PrepaidExpenses", True),
    ("3", "1650", "Capitalized software", "Other Asset", "OtherLongTermAssets", True),
    ("4", "1655", "Accumulated amortization", "Other Asset", "AccumulatedAmortizationOfOtherAssets", True),
    ("5", "2000", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", True),
    ("6", "2150", "Accrued AI costs", "Other Current Liability", "OtherCurrentLiabilities", True),
    ("7", "2450", "Deferred revenue", "Other Current Liability", "OtherCurrentLiabilities", True),
    ("8", "4100", "AI usage revenue", "Income", "ServiceFeeIncome", True),
    ("9", "4150", "Breakage revenue", "Income", "OtherPrimaryIncome", True),
    ("10", "5010", "AI COGS", "Cost of Goods Sold", "OtherCostsOfServiceCos", True),
    ("11", "6110", "AI R&D", "Expense", "OtherMiscellaneousServiceCost", True),
    ("12", "6120", "AI Sales & Marketing", "Expense", "AdvertisingPromotional", True),
    ("13", "6130", "AI G&A", "Expense", "OfficeGeneralAdministrativeExpenses", True),
    ("14", "6140", "Amortization expense", "Expense", "OtherBusinessExpenses", True),
    ("15", "6190", "AI spend suspense", "Expense", "OtherMiscellaneousServiceCost", True),
    ("16", "6195", "Loss on expired credits", "Other Expense", "OtherMiscellaneousExpense", True),
    ("18", "6197", "Promotional AI credits", "Expense", "OtherMiscellaneousServiceCost", True),
    ("17", "6199", "Legacy AI tools", "Expense", "OtherMiscellaneousServiceCost", False),
)
SEED_CLASSES = (
    ("100", "Support Assistant"),
    ("101", "Document Search"),
    ("102", "Engineering"),
    ("103", "Growth"),
    ("104", "Back Office"),
)
SEED_DEPARTMENTS = (("200", "US"), ("201", "EU"))
SEED_VENDORS = (("300", "OpenAI"), ("301", "Anthropic"))

# Which side of the books an account type sits on; decides the sign of its CurrentBalance.
CLASSIFICATION_BY_TYPE = {
    "Bank": "Asset",
    "Accounts Receivable": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Long Term Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Other Income": "Revenue",
    "Cost of Goods Sold": "Expense",
    "Expense": "Expense",
    "Other Expense": "Expense",
}
_DEFAULT_SUBTYPE = {
    "Bank": "Checking",
    "Accounts Receivable": "AccountsReceivable",
    "Other Current Asset": "OtherCurrentAssets",
    "Fixed Asset": "OtherFixedAssets",
    "Other Asset": "OtherLongTermAssets",
    "Accounts Payable": "AccountsPayable",
    "Credit Card": "CreditCard",
    "Other Current Liability": "OtherCurrentLiabilities",
    "Long Term Liability": "OtherLongTermLiabilities",
    "Equity": "OwnersEquity",
    "Income": "ServiceFeeIncome",
    "Other Income": "OtherMiscellaneousIncome",
    "Cost of Goods Sold": "OtherCostsOfServiceCos",
    "Expense": "OtherMiscellaneousServiceCost",
    "Other Expense": "OtherMiscellaneousExpense",
}
CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
}

_WRITABLE_FIELDS = {"domain": "QBO", "sparse": False}


def _metadata(now: str) -> dict[str, str]:
    return {"CreateTime": now, "LastUpdatedTime": now}


def currency_ref(code: str) -> dict[str, str]:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def make_account(
    account_id: str,
    name: str,
    account_type: str,
    now: str,
    *,
    acct_num: str | None = None,
    account_sub_type: str | None = None,
    active: bool = True,
    currency: str = "USD",
) -> dict[str, Any]:
    if account_type not in CLASSIFICATION_BY_TYPE:
        raise ValueError(f"unknown AccountType {account_type!r}; use one of {sorted(CLASSIFICATION_BY_TYPE)}")
    account: dict[str, Any] = {
        "Name": name,
        "SubAccount": False,
        "FullyQualifiedName": name,
        "Active": active,
        "Classification": CLASSIFICATION_BY_TYPE[account_type],
        "AccountType": account_type,
        "AccountSubType": account_sub_type or _DEFAULT_SUBTYPE[account_type],
        "CurrentBalance": Decimal("0"),
        "CurrentBalanceWithSubAccounts": Decimal("0"),
        "CurrencyRef": currency_ref(currency),
    }
    if acct_num is not None:
        account["AcctNum"] = acct_num
    return account | _WRITABLE_FIELDS | {"Id": account_id, "SyncToken": "0", "MetaData": _metadata(now)}


def make_tracking_class(class_id: str, name: str, now: str, *, active: bool = True) -> dict[str, Any]:
    row = {"Name": name, "SubClass": False, "FullyQualifiedName": name, "Active": active}
    return row | _WRITABLE_FIELDS | {"Id": class_id, "SyncToken": "0", "MetaData": _metadata(now)}


def make_department(department_id: str, name: str, now: str, *, active: bool = True) -> dict[str, Any]:
    row = {"Name": name, "SubDepartment": False, "FullyQualifiedName": name, "Active": active}
    return row | _WRITABLE_FIELDS | {"Id": department_id, "SyncToken": "0", "MetaData": _metadata(now)}


def make_vendor(vendor_id: str, name: str, now: str, *, active: bool = True) -> dict[str, Any]:
    row = {
        "DisplayName": name,
        "CompanyName": name,
        "PrintOnCheckName": name,
        "Active": active,
        "Vendor1099": False,
        "Balance": Decimal("0"),
        "CurrencyRef": currency_ref("USD"),
    }
    return row | _WRITABLE_FIELDS | {"Id": vendor_id, "SyncToken": "0", "MetaData": _metadata(now)}


def _company_info(realm_id: str, now: str) -> dict[str, Any]:
    address = {"Id": "1", "Line1": "1 Sandbox Way", "City": "Mountain View", "CountrySubDivisionCode": "CA"}
    info = {
        "CompanyName": "Tokenbooks Sandbox Company",
        "LegalName": "Tokenbooks Sandbox Company Inc.",
        "CompanyAddr": address | {"PostalCode": "94043", "Country": "US"},
        "Country": "US",
        "FiscalYearStartMonth": "January",
        "SupportedLanguages": "en",
        "DefaultTimeZone": "UTC",
        "CompanyStartDate": "2024-01-01",
        "NameValue": [
            {"Name": "CompanyType", "Value": "Other"},
            {"Name": "SandboxRealmId", "Value": realm_id},
        ],
    }
    return info | _WRITABLE_FIELDS | {"Id": "1", "SyncToken": "0", "MetaData": _metadata(now)}


def _preferences(now: str) -> dict[str, Any]:
    prefs = {
        "AccountingInfoPrefs": {
            "TrackDepartments": True,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": True,
            "CustomerTerminology": "Customers",
            "UseAccountNumbers": True,
            "FirstMonthOfFiscalYear": "January",
        },
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "OtherPrefs": {
            "NameValue": [
                {"Name": "WarnDuplicateJournalNumber", "Value": "true"},
                {"Name": "WarnDuplicateBillNumber", "Value": "false"},
            ]
        },
    }
    return prefs | _WRITABLE_FIELDS | {"Id": "1", "SyncToken": "0", "MetaData": _metadata(now)}


def seed_company(realm_id: str, now: str) -> dict[str, Any]:
    """The persisted shape of a fresh company: entity tables keyed by Id, plus the id counters."""
    accounts = {
        row[0]: make_account(
            row[0], row[2], row[3], now, acct_num=row[1], account_sub_type=row[4], active=row[5]
        )
        for row in SEED_ACCOUNTS
    }
    return {
        "realm_id": realm_id,
        "company_info": _company_info(realm_id, now),
        "preferences": _preferences(now),
        "accounts": accounts,
        "classes": {cid: make_tracking_class(cid, name, now) for cid, name in SEED_CLASSES},
        "departments": {did: make_department(did, name, now) for did, name in SEED_DEPARTMENTS},
        "vendors": {vid: make_vendor(vid, name, now) for vid, name in SEED_VENDORS},
        "journal_entries": {},
        "bills": {},
        # Transactions share one id sequence, as QBO's TxnIds do.
        "next_ids": {"account": 18, "class": 105, "department": 202, "vendor": 302, "transaction": 1001},
    }
