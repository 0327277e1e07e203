"""One sandbox QBO company: its entities, preferences and id counters, and every change made to them.

``CompanyState`` wraps a plain, JSON-ready dict (``to_dict()``), so the sandbox can persist it after each
mutation and rebuild it from the state file. It is not thread-safe by itself: the sandbox serialises access
with its own lock. Writes that come through the API and writes made "by hand" (a person in the QBO UI, via the
control surface) both land here, so both move account balances the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connector.sandbox.qbo_errors import (
    QboFault,
    duplicate_doc_number,
    invalid_property,
    object_not_found,
    qbo_time,
    required_missing,
    stale_object,
    unsupported_property,
)
from connector.sandbox.qbo_seed import (
    make_account,
    make_department,
    make_tracking_class,
    make_vendor,
    seed_company,
)
from connector.sandbox.qbo_transactions import (
    check_open_period,
    normalise_bill,
    normalise_journal_entry,
    posting_effects,
)

__all__ = ["ENTITY_TABLES", "QUERYABLE_FIELDS", "CompanyState"]

# Query entity name -> key of its table in the state dict (single-row entities are handled apart).
ENTITY_TABLES = {
    "JournalEntry": "journal_entries",
    "Account": "accounts",
    "Class": "classes",
    "Department": "departments",
    "Vendor": "vendors",
    "Bill": "bills",
}
_SINGLE_ROW = {"CompanyInfo": "company_info", "Preferences": "preferences"}
NAME_LIST_ENTITIES = frozenset({"Account", "Class", "Department", "Vendor"})
_TXN_COMMON = {
    "Id",
    "SyncToken",
    "MetaData",
    "domain",
    "sparse",
    "DocNumber",
    "TxnDate",
    "PrivateNote",
    "Line",
}
_TXN_COMMON |= {"CurrencyRef", "ExchangeRate", "TotalAmt", "TxnTaxDetail"}


def _fields_of(row: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(row) | {"Id", "SyncToken", "MetaData", "domain", "sparse"}


def _queryable_fields() -> dict[str, frozenset[str]]:
    company = seed_company("0", "t")
    return {
        "JournalEntry": frozenset(_TXN_COMMON | {"Adjustment", "HomeTotalAmt"}),
        "Bill": frozenset(_TXN_COMMON | {"DueDate", "VendorRef", "APAccountRef", "Balance"}),
        "Account": _fields_of(make_account("0", "x", "Bank", "t", acct_num="0")),
        "Class": _fields_of(make_tracking_class("0", "x", "t")),
        "Department": _fields_of(make_department("0", "x", "t")),
        "Vendor": _fields_of(make_vendor("0", "x", "t")),
        "CompanyInfo": _fields_of(company["company_info"]),
        "Preferences": _fields_of(company["preferences"]),
    }


QUERYABLE_FIELDS = _queryable_fields()

# set_preference() names -> (section of Preferences, key); NameValue entries live under OtherPrefs.
_PREFERENCE_PATHS = {
    "multicurrencyenabled": ("CurrencyPrefs", "MultiCurrencyEnabled"),
    "multicurrency": ("CurrencyPrefs", "MultiCurrencyEnabled"),
    "homecurrency": ("CurrencyPrefs", "HomeCurrency"),
    "bookclosedate": ("AccountingInfoPrefs", "BookCloseDate"),
    "trackdepartments": ("AccountingInfoPrefs", "TrackDepartments"),
    "classtrackingpertxnline": ("AccountingInfoPrefs", "ClassTrackingPerTxnLine"),
    "classtrackingpertxn": ("AccountingInfoPrefs", "ClassTrackingPerTxn"),
    "warnduplicatejournalnumber": ("OtherPrefs", "WarnDuplicateJournalNumber"),
    "warnduplicatebillnumber": ("OtherPrefs", "WarnDuplicateBillNumber"),
}


class CompanyState:
    """The company's data, and the operations the API and the control surface perform on it."""

    def __init__(self, data: dict[str, Any], now: Callable[[], datetime]) -> None:
        self.data = data
        self._now = now

    @classmethod
    def seeded(cls, realm_id: str, now: Callable[[], datetime]) -> CompanyState:
        return cls(seed_company(realm_id, qbo_time(now())), now)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @property
    def realm_id(self) -> str:
        return str(self.data["realm_id"])

    def now_text(self) -> str:
        return qbo_time(self._now())

    # --- CompanyView: what validation reads -----------------------------------------------------------

    def account(self, account_id: str) -> dict[str, Any] | None:
        return self.data["accounts"].get(str(account_id))

    def tracking_class(self, class_id: str) -> dict[str, Any] | None:
        return self.data["classes"].get(str(class_id))

    def department(self, department_id: str) -> dict[str, Any] | None:
        return self.data["departments"].get(str(department_id))

    def vendor(self, vendor_id: str) -> dict[str, Any] | None:
        return self.data["vendors"].get(str(vendor_id))

    def book_close_date(self) -> date | None:
        text = self.data["preferences"]["AccountingInfoPrefs"].get("BookCloseDate")
        return date.fromisoformat(text) if text else None

    def multicurrency_enabled(self) -> bool:
        return bool(self.data["preferences"]["CurrencyPrefs"]["MultiCurrencyEnabled"])

    def home_currency(self) -> str:
        return str(self.data["preferences"]["CurrencyPrefs"]["HomeCurrency"]["value"])

    def today(self) -> date:
        return self._now().date()

    def other_pref(self, name: str) -> str | None:
        for pair in self.data["preferences"]["OtherPrefs"]["NameValue"]:
            if pair["Name"] == name:
                return str(pair["Value"])
        return None

    def warns_on_duplicate_journal_number(self) -> bool:
        return (self.other_pref("WarnDuplicateJournalNumber") or "").lower() == "true"

    # --- Reading --------------------------------------------------------------------------------------

    def company_info(self) -> dict[str, Any]:
        return self.data["company_info"]

    def preferences(self) -> dict[str, Any]:
        return self.data["preferences"]

    def rows(self, entity: str) -> list[dict[str, Any]]:
        """Every stored row of a query entity, in Id order."""
        if entity in _SINGLE_ROW:
            return [self.data[_SINGLE_ROW[entity]]]
        return list(self.data[ENTITY_TABLES[entity]].values())

    def get(self, entity: str, object_id: Any) -> dict[str, Any]:
        """A stored transaction by Id, or 610 Object Not Found."""
        row = self.data[ENTITY_TABLES[entity]].get(str(object_id))
        if row is None:
            raise object_not_found(entity, object_id)
        return row

    def journal_entries(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.data["journal_entries"].values()))

    # --- JournalEntry writes --------------------------------------------------------------------------

    def create_journal_entry(
        self,
        body: Any,
        *,
        allow_duplicate_doc_number: bool = False,
        visible_ids: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Create from a request body. ``visible_ids``, when given, limits the duplicate-DocNumber check to
        those entries: items of one batch do not see each other (erps.md §1.6)."""
        if isinstance(body, Mapping) and body.get("Id") not in (None, ""):
            raise unsupported_property("Id", "JournalEntry.Id")
        entry = normalise_journal_entry(body, self)
        if not allow_duplicate_doc_number:
            self._check_duplicate_doc_number(entry, None, visible_ids)
        return self._store_new("JournalEntry", entry)

    def update_journal_entry(
        self,
        body: Any,
        *,
        allow_duplicate_doc_number: bool = False,
        visible_ids: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Full update (or ``"sparse": true`` partial update) with optimistic locking on SyncToken."""
        existing = self._locked_for_change("JournalEntry", body)
        if body.get("sparse") is True:
            body = {key: value for key, value in existing.items() if key != "MetaData"} | dict(body)
        entry = normalise_journal_entry(body, self)
        if not allow_duplicate_doc_number:
            self._check_duplicate_doc_number(entry, existing["Id"], visible_ids)
        return self._replace("JournalEntry", existing, entry)

    def delete_journal_entry(self, body: Any) -> dict[str, Any]:
        existing = self._locked_for_change("JournalEntry", body)
        self._remove("JournalEntry", existing)
        return {"status": "Deleted", "domain": "QBO", "Id": existing["Id"]}

    def _locked_for_change(self, entity: str, body: Any) -> dict[str, Any]:
        """The stored row an update/delete body names, after the Id, SyncToken and closed-period checks."""
        if not isinstance(body, Mapping):
            raise invalid_property(f"{entity} must be an object", entity)
        if body.get("Id") in (None, ""):
            raise required_missing("Id", f"{entity}.Id")
        existing = self.get(entity, body["Id"])
        if body.get("SyncToken") in (None, ""):
            raise required_missing("SyncToken", f"{entity}.SyncToken")
        if str(body["SyncToken"]) != existing["SyncToken"]:
            raise stale_object()
        # A transaction dated inside a closed period cannot be changed through the API either.
        check_open_period(date.fromisoformat(existing["TxnDate"]), self)
        return existing

    def _check_duplicate_doc_number(
        self, entry: Mapping[str, Any], own_id: str | None, visible_ids: Collection[str] | None
    ) -> None:
        doc_number = entry.get("DocNumber")
        if doc_number is None or not self.warns_on_duplicate_journal_number():
            return
        for other in self.data["journal_entries"].values():
            if other["Id"] == own_id or (visible_ids is not None and other["Id"] not in visible_ids):
                continue
            if other.get("DocNumber") == doc_number:
                raise duplicate_doc_number(doc_number, "Journal Entry", other["Id"])

    # --- Bill writes ----------------------------------------------------------------------------------

    def create_bill(self, body: Any) -> dict[str, Any]:
        if isinstance(body, Mapping) and body.get("Id") not in (None, ""):
            raise QboFault(
                500, "Unsupported Operation", "The sandbox creates and reads bills; it does not update them"
            )
        return self._store_new("Bill", normalise_bill(body, self, self._payables_account()))

    def _payables_account(self) -> dict[str, Any]:
        for account in self.data["accounts"].values():
            if account["AccountType"] == "Accounts Payable" and account["Active"]:
                return account
        raise invalid_property("The company has no active Accounts Payable account", "APAccountRef")

    # --- Storage and balances -------------------------------------------------------------------------

    def _store_new(self, entity: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.now_text()
        row = _with_envelope(
            fields, self._next_id("transaction"), "0", {"CreateTime": now, "LastUpdatedTime": now}
        )
        self._post(entity, row, 1)
        self.data[ENTITY_TABLES[entity]][row["Id"]] = row
        return row

    def _replace(self, entity: str, existing: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        metadata = {"CreateTime": existing["MetaData"]["CreateTime"], "LastUpdatedTime": self.now_text()}
        row = _with_envelope(fields, existing["Id"], str(int(existing["SyncToken"]) + 1), metadata)
        self._post(entity, existing, -1)
        self._post(entity, row, 1)
        self.data[ENTITY_TABLES[entity]][row["Id"]] = row
        return row

    def _remove(self, entity: str, existing: dict[str, Any]) -> None:
        self._post(entity, existing, -1)
        del self.data[ENTITY_TABLES[entity]][existing["Id"]]

    def _post(self, entity: str, txn: Mapping[str, Any], direction: int) -> None:
        """Move account balances by ``txn`` (direction 1) or take it back out (direction -1)."""
        for account_id, debit in posting_effects(entity, txn):
            account = self.account(account_id)
            if account is None:
                continue
            # Assets and expenses grow with debits; liabilities, equity and income with credits.
            signed = debit if account["Classification"] in ("Asset", "Expense") else -debit
            account["CurrentBalance"] += direction * signed
            account["CurrentBalanceWithSubAccounts"] += direction * signed
        if entity == "Bill":
            vendor = self.vendor(txn["VendorRef"]["value"])
            if vendor is not None:
                total = txn["TotalAmt"] * txn.get("ExchangeRate", 1)
                vendor["Balance"] += direction * total

    def _next_id(self, sequence: str) -> str:
        value = int(self.data["next_ids"][sequence])
        self.data["next_ids"][sequence] = value + 1
        return str(value)

    def _touch(self, row: dict[str, Any]) -> None:
        row["SyncToken"] = str(int(row["SyncToken"]) + 1)
        row["MetaData"]["LastUpdatedTime"] = self.now_text()

    # --- Control surface: what a person (or a test) does in the QBO UI ---------------------------------

    def set_book_close_date(self, close_date: date | str | None) -> None:
        prefs = self.data["preferences"]["AccountingInfoPrefs"]
        if close_date is None or close_date == "":
            prefs.pop("BookCloseDate", None)
        else:
            text = close_date.isoformat() if isinstance(close_date, date) else str(close_date)
            prefs["BookCloseDate"] = date.fromisoformat(text).isoformat()
        self._touch(self.data["preferences"])

    def set_preference(self, name: str, value: Any) -> None:
        """Set a preference by its QBO name (case-insensitive), e.g. MultiCurrencyEnabled, HomeCurrency,
        WarnDuplicateJournalNumber, TrackDepartments, ClassTrackingPerTxnLine, BookCloseDate."""
        path = _PREFERENCE_PATHS.get(name.lower())
        if path is None:
            raise KeyError(
                f"unknown preference {name!r}; known: {sorted({k for _, k in _PREFERENCE_PATHS.values()})}"
            )
        section, key = path
        if key == "BookCloseDate":
            self.set_book_close_date(value)
            return
        prefs = self.data["preferences"]
        if section == "OtherPrefs":
            self._set_name_value(key, "true" if _truthy(value) else "false")
        elif key == "HomeCurrency":
            prefs[section][key] = {"value": str(value)}
        else:
            prefs[section][key] = _truthy(value)
        self._touch(prefs)

    def _set_name_value(self, name: str, value: str) -> None:
        pairs = self.data["preferences"]["OtherPrefs"]["NameValue"]
        for pair in pairs:
            if pair["Name"] == name:
                pair["Value"] = value
                return
        pairs.append({"Name": name, "Value": value})

    def add_account(
        self,
        name: str,
        account_type: str,
        *,
        acct_num: str | None = None,
        account_sub_type: str | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        account_id = self._next_id("account")
        account = make_account(
            account_id,
            name,
            account_type,
            self.now_text(),
            acct_num=acct_num,
            account_sub_type=account_sub_type,
            active=active,
            currency=self.home_currency(),
        )
        self.data["accounts"][account_id] = account
        return copy.deepcopy(account)

    def set_active(self, entity: str, object_id: str, active: bool) -> dict[str, Any]:
        """Make an Account, Class, Department or Vendor active or inactive."""
        if entity not in NAME_LIST_ENTITIES:
            raise ValueError(f"{entity} has no Active flag; use one of {sorted(NAME_LIST_ENTITIES)}")
        row = self.data[ENTITY_TABLES[entity]].get(str(object_id))
        if row is None:
            raise KeyError(f"no {entity} with Id {object_id}")
        row["Active"] = bool(active)
        self._touch(row)
        return copy.deepcopy(row)

    def journal_by_doc_number(self, doc_number: str) -> dict[str, Any]:
        for entry in self.data["journal_entries"].values():
            if entry.get("DocNumber") == doc_number:
                return entry
        raise KeyError(f"no journal entry with DocNumber {doc_number!r}")

    def delete_journal_by_hand(self, doc_number: str) -> dict[str, Any]:
        """Delete like a person in QBO would: no SyncToken, and the closing date does not stop them."""
        entry = self.journal_by_doc_number(doc_number)
        self._remove("JournalEntry", entry)
        return copy.deepcopy(entry)

    def edit_journal_by_hand(
        self,
        doc_number: str,
        *,
        lines: list[dict[str, Any]] | None = None,
        txn_date: date | str | None = None,
        private_note: str | None = None,
        new_doc_number: str | None = None,
    ) -> dict[str, Any]:
        """Edit like a person in QBO would: the entry must still balance, its SyncToken moves on."""
        entry = self.journal_by_doc_number(doc_number)
        body = {key: value for key, value in entry.items() if key != "MetaData"}
        if lines is not None:
            body["Line"] = lines
        if txn_date is not None:
            body["TxnDate"] = txn_date.isoformat() if isinstance(txn_date, date) else txn_date
        if private_note is not None:
            body["PrivateNote"] = private_note
        if new_doc_number is not None:
            body["DocNumber"] = new_doc_number
        fields = normalise_journal_entry(body, self, check_period=False)
        return copy.deepcopy(self._replace("JournalEntry", entry, fields))

    def add_bill(
        self,
        vendor_id: str,
        lines: list[tuple[str, Decimal | str]],
        *,
        txn_date: date | str | None = None,
        doc_number: str | None = None,
        private_note: str | None = None,
    ) -> dict[str, Any]:
        """Enter a vendor bill; ``lines`` are (expense account id, amount) pairs."""
        body: dict[str, Any] = {"VendorRef": {"value": str(vendor_id)}, "DocNumber": doc_number}
        body["TxnDate"] = txn_date.isoformat() if isinstance(txn_date, date) else txn_date
        body["PrivateNote"] = private_note
        body["Line"] = [
            {
                "Amount": amount,
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": str(account_id)}},
            }
            for account_id, amount in lines
        ]
        return copy.deepcopy(
            self.create_bill({key: value for key, value in body.items() if value is not None})
        )


def _with_envelope(
    fields: dict[str, Any], txn_id: str, sync_token: str, metadata: dict[str, str]
) -> dict[str, Any]:
    """A stored transaction: the fields, lines numbered from Id "0" / LineNum 1, and the entity envelope."""
    row = dict(fields)
    row["Line"] = [
        {"Id": str(index), "LineNum": index + 1}
        | {k: v for k, v in line.items() if k not in ("Id", "LineNum")}
        for index, line in enumerate(fields["Line"])
    ]
    return row | {
        "domain": "QBO",
        "sparse": False,
        "Id": txn_id,
        "SyncToken": sync_token,
        "MetaData": metadata,
    }


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)
