"""Validation and normalisation of the transactions the sandbox accepts: JournalEntry and Bill.

A request body is checked the way QBO checks it, in QBO's order: unknown or malformed properties (2010),
missing ones (2020), bad enumerations (2170), unknown or inactive references (2500), then business rules
(6000, and 6210 for a closed period). What survives is turned into the stored shape: amounts as exact
``Decimal``, references with their names filled in, lines renumbered. Duplicate-DocNumber checks (6140) need
the other entries, so the company state does those.

Fields python-quickbooks always sends (``TaxApplicableOn``, ``TaxAmount``, ``LineNum``, ``CustomField``,
``LinkedTxn``, ``domain``, ``sparse``, ``SyncToken``, ``TotalAmt``, ``ExchangeRate``, ``Adjustment``, refs
with empty ``name`` / ``type``) are accepted; read-only ones are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from connector.sandbox.qbo_errors import (
    QboFault,
    business_validation,
    invalid_enumeration,
    invalid_property,
    invalid_reference,
    period_closed,
    required_missing,
    unsupported_property,
)
from connector.sandbox.qbo_seed import currency_ref

__all__ = [
    "CompanyView",
    "check_open_period",
    "normalise_bill",
    "normalise_journal_entry",
    "parse_amount",
    "posting_effects",
]

MAX_DOC_NUMBER = 21
MAX_NOTE = 4000

_REF_FIELDS = frozenset({"value", "name", "type"})
_COMMON_HEADER = frozenset(
    {"Id", "SyncToken", "domain", "sparse", "MetaData", "DocNumber", "TxnDate", "PrivateNote", "Line"}
    | {"CurrencyRef", "ExchangeRate", "TotalAmt", "HomeTotalAmt", "TxnTaxDetail", "CustomField", "LinkedTxn"}
    | {"TxnSource", "GlobalTaxCalculation", "TransactionLocationType", "RecurDataRef", "ProjectRef"}
)
_JE_HEADER = (
    _COMMON_HEADER
    | {"Adjustment", "TaxRateRef", "JournalCodeRef", "HomeCurrencyAdjustment"}
    | {"EnteredInHomeCurrency"}
)
_JE_LINE = frozenset(
    {
        "Id",
        "LineNum",
        "Description",
        "Amount",
        "DetailType",
        "JournalEntryLineDetail",
        "DescriptionLineDetail",
    }
    | {"LinkedTxn", "CustomField", "ProjectRef"}
)
_JE_DETAIL = frozenset(
    {"PostingType", "AccountRef", "ClassRef", "DepartmentRef", "Entity", "TaxCodeRef", "TaxApplicableOn"}
    | {"TaxAmount", "BillableStatus", "JournalCodeRef"}
)
_BILL_HEADER = (
    _COMMON_HEADER
    | {"VendorRef", "APAccountRef", "DueDate", "Balance", "HomeBalance"}
    | {
        "SalesTermRef",
        "DepartmentRef",
        "VendorAddr",
    }
)
_BILL_LINE = frozenset(
    {"Id", "LineNum", "Description", "Amount", "DetailType", "AccountBasedExpenseLineDetail"}
    | {"LinkedTxn", "CustomField", "ProjectRef"}
)
_BILL_DETAIL = frozenset(
    {"AccountRef", "ClassRef", "CustomerRef", "BillableStatus", "TaxCodeRef", "TaxAmount", "TaxInclusiveAmt"}
    | {"MarkupInfo"}
)
_BILLABLE_STATUSES = ("Billable", "NotBillable", "HasBeenBilled")
_ENTITY_TYPES = ("Customer", "Vendor", "Employee")
_AMOUNT_TEXT = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CompanyView(Protocol):
    """What validation needs to know about the company."""

    def account(self, account_id: str) -> dict[str, Any] | None: ...
    def tracking_class(self, class_id: str) -> dict[str, Any] | None: ...
    def department(self, department_id: str) -> dict[str, Any] | None: ...
    def vendor(self, vendor_id: str) -> dict[str, Any] | None: ...
    def book_close_date(self) -> date | None: ...
    def multicurrency_enabled(self) -> bool: ...
    def home_currency(self) -> str: ...
    def today(self) -> date: ...


# --- Scalars -----------------------------------------------------------------------------------------------


def parse_amount(value: Any, element: str, *, name: str = "Amount") -> Decimal:
    """An amount given as a JSON number or a decimal string, as an exact, non-negative ``Decimal``.

    QBO allows "Max 15 digits in 10.5 format": at most 10 digits before the point and 5 after.
    """
    if value is None or value == "":
        raise required_missing(name, element)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise invalid_property(f"{name} {value!r} is not a number", element)
    if isinstance(value, str) and not _AMOUNT_TEXT.match(value.strip()):
        raise invalid_property(f"{name} {value!r} is not a number", element)
    amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    if amount < 0:
        raise invalid_property(f"{name} must not be negative, got {value}", element)
    if not amount.is_finite():
        raise invalid_property(f"{name} {value!r} is not a number", element)
    if int(amount.as_tuple().exponent) > 0:
        amount = amount.quantize(Decimal(1))  # "1E+2" is stored and echoed as 100
    exponent = int(amount.as_tuple().exponent)
    whole_digits = max(0, len(amount.as_tuple().digits) + exponent)
    if whole_digits > 10 or -exponent > 5:
        raise invalid_property(f"{name} {value} exceeds 15 digits in 10.5 format", element)
    return amount


def _txn_date(value: Any, company: CompanyView, element: str = "TxnDate") -> date:
    if value is None or value == "":
        return company.today()  # QBO's default: the current server date
    if not isinstance(value, str) or not _DATE_TEXT.match(value):
        raise invalid_property(f"{element} {value!r} is not a date in YYYY-MM-DD form", element)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_property(f"{element} {value!r} is not a valid date", element) from None


def _optional_text(value: Any, element: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise invalid_property(f"{element} must be a string", element)
    text = str(value)
    if len(text) > limit:
        raise business_validation(
            "String length is either shorter or longer than supported by specification. "
            f"Min:0 Max:{limit} supported. Supplied length:{len(text)}",
            element,
        )
    return text


def _check_fields(obj: Any, allowed: frozenset[str], element: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise invalid_property(f"{element} must be an object", element)
    for key in obj:
        if key not in allowed:
            raise unsupported_property(key, f"{element}.{key}")
    return obj


def _ref_id(ref: Any, name: str, element: str, *, required: bool) -> str | None:
    """The id inside a ``{"value", "name", "type"}`` reference; empty ``name`` / ``type`` are fine.

    An optional reference with an empty ``value`` (python-quickbooks' blank ``Ref()``) counts as not given.
    """
    if ref is not None:
        _check_fields(ref, _REF_FIELDS, element)
        value = ref.get("value")
        if value not in (None, "") and not isinstance(value, bool | Mapping | list):
            return str(value)
    if required:
        raise required_missing(name, element)
    return None


def check_open_period(txn_date: date, company: CompanyView) -> None:
    """6210 when ``txn_date`` is on or before the company's closing date."""
    close_date = company.book_close_date()
    if close_date is not None and txn_date <= close_date:
        raise period_closed()


# --- References --------------------------------------------------------------------------------------------


def _named_ref(row: Mapping[str, Any], name_field: str = "Name") -> dict[str, str]:
    return {"value": row["Id"], "name": row[name_field]}


def _account_ref(
    account_id: str, company: CompanyView, element: str
) -> tuple[dict[str, str], Mapping[str, Any]]:
    account = company.account(account_id)
    if account is None:
        raise invalid_reference("Account", account_id, element)
    if not account["Active"]:
        raise business_validation(
            f"The account {account['Name']} (Id {account_id}) is inactive. "
            "Make it active or choose a different account.",
            element,
        )
    return _named_ref(account, "FullyQualifiedName"), account


def _tracking_ref(
    kind: str, ref_id: str | None, row: Mapping[str, Any] | None, element: str
) -> dict[str, str] | None:
    if ref_id is None:
        return None
    if row is None:
        raise invalid_reference(kind, ref_id, element)
    if not row["Active"]:
        raise invalid_reference(kind, ref_id, element, reason=f"({row['Name']}) is inactive")
    return _named_ref(row, "FullyQualifiedName")


def _vendor_ref(vendor_id: str, company: CompanyView, element: str) -> dict[str, str]:
    vendor = company.vendor(vendor_id)
    if vendor is None or not vendor["Active"]:
        reason = "not found" if vendor is None else f"({vendor['DisplayName']}) is inactive"
        raise invalid_reference("Vendor", vendor_id, element, reason=reason)
    return _named_ref(vendor, "DisplayName")


def _currency(body: Mapping[str, Any], company: CompanyView) -> tuple[dict[str, str], Decimal | None]:
    """The transaction's CurrencyRef, and its ExchangeRate when that matters (multicurrency only)."""
    home = company.home_currency()
    code = _ref_id(body.get("CurrencyRef"), "CurrencyRef", "CurrencyRef", required=False)
    if not company.multicurrency_enabled():
        if code not in (None, home):
            raise business_validation(
                f"Multicurrency is not enabled for this company; CurrencyRef must be {home}, got {code}.",
                "CurrencyRef",
            )
        return currency_ref(home), None
    if code is None:
        raise business_validation("CurrencyRef is required when multicurrency is enabled.", "CurrencyRef")
    if code == home:
        return currency_ref(code), Decimal(1)
    raw_rate = body.get("ExchangeRate")
    if raw_rate in (None, "", 0, Decimal(0)):
        raise business_validation(f"ExchangeRate is required for a transaction in {code}.", "ExchangeRate")
    return currency_ref(code), parse_amount(raw_rate, "ExchangeRate", name="ExchangeRate")


# --- JournalEntry ------------------------------------------------------------------------------------------


def normalise_journal_entry(body: Any, company: CompanyView, *, check_period: bool = True) -> dict[str, Any]:
    """The stored form of a JournalEntry request body (without Id, SyncToken, MetaData); raises QboFault.

    ``check_period=False`` skips the closing-date check, for edits made by hand in the QBO UI.
    """
    _check_fields(body, _JE_HEADER, "JournalEntry")
    parsed = [_parse_journal_line(raw, f"Line[{index}]") for index, raw in enumerate(_raw_lines(body))]
    postings = [line for line in parsed if line["DetailType"] == "JournalEntryLineDetail"]
    if len(postings) < 2:
        raise QboFault(
            2020,
            "Required param missing, need to supply the required value for the API",
            "Required parameter Line is missing in the request: a journal entry needs at least 2 lines "
            f"(a debit and a credit), got {len(postings)}",
            element="Line",
        )
    txn_date = _txn_date(body.get("TxnDate"), company)
    resolved = [_resolve_journal_line(line, company) for line in parsed]
    lines = [line for line, _ in resolved]
    doc_number = _optional_text(body.get("DocNumber"), "DocNumber", MAX_DOC_NUMBER)
    private_note = _optional_text(body.get("PrivateNote"), "PrivateNote", MAX_NOTE)
    currency, rate = _currency(body, company)
    adjustment = body.get("Adjustment", False)
    if not isinstance(adjustment, bool):
        raise invalid_property(f"Adjustment must be true or false, got {adjustment!r}", "Adjustment")
    _check_payable_receivable_names(resolved)
    total = _check_balanced(lines)
    if check_period:
        check_open_period(txn_date, company)
    entry: dict[str, Any] = {
        "Adjustment": adjustment,
        "DocNumber": doc_number,
        "TxnDate": txn_date.isoformat(),
    }
    entry |= {"PrivateNote": private_note, "CurrencyRef": currency, "ExchangeRate": rate, "Line": lines}
    entry |= {"TxnTaxDetail": {}, "TotalAmt": total, "HomeTotalAmt": None if rate is None else total * rate}
    return {key: value for key, value in entry.items() if value is not None}


def _raw_lines(body: Mapping[str, Any]) -> list[Any]:
    lines = body.get("Line")
    if lines is None or lines == []:
        raise required_missing("Line")
    if not isinstance(lines, list):
        raise invalid_property("Line must be a list of lines", "Line")
    return lines


def _parse_journal_line(raw: Any, element: str) -> dict[str, Any]:
    """Schema checks for one line; references are only collected here, resolved later."""
    line = _check_fields(raw, _JE_LINE, element)
    detail_type = line.get("DetailType")
    if detail_type in (None, ""):
        raise required_missing("DetailType", element)
    parsed: dict[str, Any] = {"DetailType": detail_type}
    parsed["Description"] = _optional_text(line.get("Description"), f"{element}.Description", MAX_NOTE)
    if detail_type == "DescriptionOnly":
        return parsed
    if detail_type != "JournalEntryLineDetail":
        raise invalid_enumeration(detail_type, f"{element}.DetailType")
    parsed["Amount"] = parse_amount(line.get("Amount"), f"{element}.Amount")
    detail_element = f"{element}.JournalEntryLineDetail"
    if line.get("JournalEntryLineDetail") is None:
        raise required_missing("JournalEntryLineDetail", element)
    detail = _check_fields(line["JournalEntryLineDetail"], _JE_DETAIL, detail_element)
    posting_type = detail.get("PostingType")
    if posting_type in (None, ""):
        raise required_missing("PostingType", detail_element)
    if posting_type not in ("Debit", "Credit"):
        raise invalid_enumeration(posting_type, f"{detail_element}.PostingType")
    _check_tax_and_billable(detail, detail_element)
    parsed["PostingType"] = posting_type
    parsed["account_id"] = _ref_id(
        detail.get("AccountRef"), "AccountRef", f"{detail_element}.AccountRef", required=True
    )
    parsed["class_id"] = _ref_id(
        detail.get("ClassRef"), "ClassRef", f"{detail_element}.ClassRef", required=False
    )
    parsed["department_id"] = _ref_id(
        detail.get("DepartmentRef"), "DepartmentRef", f"{detail_element}.DepartmentRef", required=False
    )
    parsed["entity"] = _parse_entity(detail.get("Entity"), f"{detail_element}.Entity")
    parsed["element"] = detail_element
    return parsed


def _check_tax_and_billable(detail: Mapping[str, Any], element: str) -> None:
    applicable_on = detail.get("TaxApplicableOn")
    if applicable_on not in (None, "") and applicable_on not in ("Sales", "Purchase"):
        raise invalid_enumeration(applicable_on, f"{element}.TaxApplicableOn")
    if detail.get("TaxAmount") is not None:
        parse_amount(detail["TaxAmount"], f"{element}.TaxAmount", name="TaxAmount")
    _ref_id(detail.get("TaxCodeRef"), "TaxCodeRef", f"{element}.TaxCodeRef", required=False)
    status = detail.get("BillableStatus")
    # An empty BillableStatus is a known cause of 2010 on JournalEntry create (python-quickbooks #117).
    if status is not None and status not in _BILLABLE_STATUSES:
        raise unsupported_property("BillableStatus", f"{element}.BillableStatus")


def _parse_entity(raw: Any, element: str) -> tuple[str, str] | None:
    if raw is None:
        return None
    entity = _check_fields(raw, frozenset({"Type", "EntityRef"}), element)
    entity_type = entity.get("Type") or ""
    entity_id = _ref_id(entity.get("EntityRef"), "EntityRef", f"{element}.EntityRef", required=False)
    if entity_type == "" and entity_id is None:
        return None  # python-quickbooks' blank Entity()
    if entity_type not in _ENTITY_TYPES:
        raise invalid_enumeration(entity_type, f"{element}.Type")
    if entity_id is None:
        raise required_missing("EntityRef", element)
    return entity_type, entity_id


def _resolve_journal_line(
    parsed: Mapping[str, Any], company: CompanyView
) -> tuple[dict[str, Any], str | None]:
    """The stored line, and the AccountType it posts to (None for a description-only line)."""
    line: dict[str, Any] = {"Description": parsed["Description"]}
    if parsed["DetailType"] == "DescriptionOnly":
        line |= {"DetailType": "DescriptionOnly", "DescriptionLineDetail": {}}
        return {key: value for key, value in line.items() if value is not None}, None
    element = parsed["element"]
    account_ref, account = _account_ref(parsed["account_id"], company, f"{element}.AccountRef")
    detail: dict[str, Any] = {"PostingType": parsed["PostingType"], "AccountRef": account_ref}
    class_id, department_id = parsed["class_id"], parsed["department_id"]
    class_row = company.tracking_class(class_id) if class_id else None
    department_row = company.department(department_id) if department_id else None
    detail["ClassRef"] = _tracking_ref("Class", class_id, class_row, f"{element}.ClassRef")
    detail["DepartmentRef"] = _tracking_ref(
        "Department", department_id, department_row, f"{element}.DepartmentRef"
    )
    if parsed["entity"] is not None:
        detail["Entity"] = _resolve_entity(parsed["entity"], company, f"{element}.Entity")
    line |= {"Amount": parsed["Amount"], "DetailType": "JournalEntryLineDetail"}
    line["JournalEntryLineDetail"] = {key: value for key, value in detail.items() if value is not None}
    return {key: value for key, value in line.items() if value is not None}, account["AccountType"]


def _resolve_entity(entity: tuple[str, str], company: CompanyView, element: str) -> dict[str, Any]:
    entity_type, entity_id = entity
    if entity_type != "Vendor":
        # The sandbox company has no customers or employees.
        raise invalid_reference(entity_type, entity_id, f"{element}.EntityRef")
    return {"Type": "Vendor", "EntityRef": _vendor_ref(entity_id, company, f"{element}.EntityRef")}


def _check_payable_receivable_names(resolved: list[tuple[dict[str, Any], str | None]]) -> None:
    """QBO's rule: an A/P line names a vendor, an A/R line a customer (the texts are QBO's own; the rule
    is the JournalEntry reference's, erps.md §1.2 `JournalEntryLineDetail.Entity`)."""
    for line, account_type in resolved:
        entity_type = line.get("JournalEntryLineDetail", {}).get("Entity", {}).get("Type")
        if account_type == "Accounts Payable" and entity_type != "Vendor":
            raise business_validation(
                "When you use Accounts Payable, you must choose a vendor in the Name field."
            )
        if account_type == "Accounts Receivable" and entity_type != "Customer":
            raise business_validation(
                "When you use Accounts Receivable, you must choose a customer in the Name field."
            )


def _check_balanced(lines: list[dict[str, Any]]) -> Decimal:
    """Total debits, after checking they equal total credits."""
    debits = sum(_posted(lines, "Debit"), Decimal(0))
    credits = sum(_posted(lines, "Credit"), Decimal(0))
    if debits != credits:
        raise business_validation(
            f"Debits and credits must be equal. Total debits: {debits}, total credits: {credits}.", "Line"
        )
    return debits


def _posted(lines: list[dict[str, Any]], posting_type: str) -> list[Decimal]:
    return [
        line["Amount"]
        for line in lines
        if line.get("JournalEntryLineDetail", {}).get("PostingType") == posting_type
    ]


# --- Bill --------------------------------------------------------------------------------------------------


def normalise_bill(body: Any, company: CompanyView, payables_account: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a Bill request body; ``payables_account`` is the default A/P account."""
    _check_fields(body, _BILL_HEADER, "Bill")
    vendor_id = _ref_id(body.get("VendorRef"), "VendorRef", "VendorRef", required=True)
    parsed = [_parse_bill_line(raw, f"Line[{index}]") for index, raw in enumerate(_raw_lines(body))]
    txn_date = _txn_date(body.get("TxnDate"), company)
    due_date = _txn_date(body.get("DueDate") or txn_date.isoformat(), company, "DueDate")
    vendor = _vendor_ref(str(vendor_id), company, "VendorRef")
    lines = [_resolve_bill_line(line, company) for line in parsed]
    ap_ref = _payables_ref(body.get("APAccountRef"), company, payables_account)
    doc_number = _optional_text(body.get("DocNumber"), "DocNumber", MAX_DOC_NUMBER)
    private_note = _optional_text(body.get("PrivateNote"), "PrivateNote", MAX_NOTE)
    currency, rate = _currency(body, company)
    check_open_period(txn_date, company)
    total = sum((line["Amount"] for line in lines), Decimal(0))
    bill: dict[str, Any] = {
        "DocNumber": doc_number,
        "TxnDate": txn_date.isoformat(),
        "DueDate": due_date.isoformat(),
    }
    bill |= {
        "VendorRef": vendor,
        "APAccountRef": ap_ref,
        "PrivateNote": private_note,
        "CurrencyRef": currency,
    }
    bill |= {"ExchangeRate": rate, "Line": lines, "TotalAmt": total, "Balance": total}
    return {key: value for key, value in bill.items() if value is not None}


def _parse_bill_line(raw: Any, element: str) -> dict[str, Any]:
    line = _check_fields(raw, _BILL_LINE, element)
    detail_type = line.get("DetailType")
    if detail_type in (None, ""):
        raise required_missing("DetailType", element)
    if detail_type != "AccountBasedExpenseLineDetail":
        raise invalid_enumeration(detail_type, f"{element}.DetailType")
    detail_element = f"{element}.AccountBasedExpenseLineDetail"
    if line.get("AccountBasedExpenseLineDetail") is None:
        raise required_missing("AccountBasedExpenseLineDetail", element)
    detail = _check_fields(line["AccountBasedExpenseLineDetail"], _BILL_DETAIL, detail_element)
    status = detail.get("BillableStatus")
    if status is not None and status not in _BILLABLE_STATUSES:
        raise unsupported_property("BillableStatus", f"{detail_element}.BillableStatus")
    return {
        "Description": _optional_text(line.get("Description"), f"{element}.Description", MAX_NOTE),
        "Amount": parse_amount(line.get("Amount"), f"{element}.Amount"),
        "account_id": _ref_id(
            detail.get("AccountRef"), "AccountRef", f"{detail_element}.AccountRef", required=True
        ),
        "class_id": _ref_id(detail.get("ClassRef"), "ClassRef", f"{detail_element}.ClassRef", required=False),
        "element": detail_element,
    }


def _resolve_bill_line(parsed: Mapping[str, Any], company: CompanyView) -> dict[str, Any]:
    element = parsed["element"]
    account_ref, _ = _account_ref(parsed["account_id"], company, f"{element}.AccountRef")
    class_id = parsed["class_id"]
    class_ref = _tracking_ref(
        "Class", class_id, company.tracking_class(class_id) if class_id else None, f"{element}.ClassRef"
    )
    detail = {"AccountRef": account_ref, "ClassRef": class_ref, "BillableStatus": "NotBillable"}
    line = {"Description": parsed["Description"], "Amount": parsed["Amount"]}
    line |= {"DetailType": "AccountBasedExpenseLineDetail"}
    line["AccountBasedExpenseLineDetail"] = {key: value for key, value in detail.items() if value is not None}
    return {key: value for key, value in line.items() if value is not None}


def _payables_ref(raw: Any, company: CompanyView, default: Mapping[str, Any]) -> dict[str, str]:
    account_id = _ref_id(raw, "APAccountRef", "APAccountRef", required=False)
    if account_id is None:
        return _named_ref(default, "FullyQualifiedName")
    ref, account = _account_ref(account_id, company, "APAccountRef")
    if account["AccountType"] != "Accounts Payable":
        raise business_validation(
            f"APAccountRef {account_id} is not an Accounts Payable account.", "APAccountRef"
        )
    return ref


# --- Effects on account balances ---------------------------------------------------------------------------


def posting_effects(entity: str, txn: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """(account id, debit-positive amount in home currency) for every posting ``txn`` makes."""
    rate = txn.get("ExchangeRate")

    def home(amount: Decimal) -> Decimal:
        return amount if rate is None else amount * rate

    effects: list[tuple[str, Decimal]] = []
    if entity == "JournalEntry":
        for line in txn["Line"]:
            detail = line.get("JournalEntryLineDetail")
            if detail is not None:
                sign = 1 if detail["PostingType"] == "Debit" else -1
                effects.append((detail["AccountRef"]["value"], sign * home(line["Amount"])))
    elif entity == "Bill":
        for line in txn["Line"]:
            effects.append(
                (line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"], home(line["Amount"]))
            )
        effects.append((txn["APAccountRef"]["value"], -home(txn["TotalAmt"])))
    else:
        raise ValueError(f"no posting rules for {entity}")
    return effects
