"""One Xero organisation as the sandbox keeps it: chart, tracking, lock dates, manual journals and bills.

State is a JSON-ready dict (Decimal amounts, ISO dates) so ``StateFile`` can persist it; the ``*_view``
methods give objects as the Accounting API returns them (MS-JSON dates, ``/Date(1552521600000+0000)/``).

Manual journals are validated the way erps.md §5 describes: Narration required; at least two lines (at most
``MAX_JOURNAL_LINES``, this sandbox's stand-in for Xero's unpublished limit); every line names an active
account that is not a bank, system or inventory account; at most two tracking options per line, each an
active option of an active category; lines that sum to zero ("The total debits (100.00) must equal total
credits (-10.00)"); a date after the period lock date and the end-of-year lock date ("The document date
cannot be before the period lock date, currently set at 30-Sep-2026"). Status defaults to DRAFT and
LineAmountTypes to NoTax. A line amount with more than two decimals is refused, so float damage done by a
client on the way shows up instead of being rounded away. Whether a DRAFT dated in a locked period is
accepted is unconfirmed (erps.md §9.11); ``drafts_ignore_lock_dates`` chooses (default: accepted, as the
secondary sources say).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from connector.sandbox.xero_seed import account_record, seeded_organisation
from connector.sandbox.xero_where import ms_to_datetime

__all__ = [
    "MAX_JOURNAL_LINES",
    "XeroOrganisation",
    "XeroRefusal",
    "ms_date",
    "ms_datetime",
    "parse_date",
]

MAX_JOURNAL_LINES = 500
CENT = Decimal("0.01")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
CREATE_STATUSES = ("DRAFT", "POSTED")
NOT_JOURNALABLE_TYPES = {"BANK": "Bank account", "INVENTORY": "Inventory account"}


class XeroRefusal(Exception):
    """A change a person (or test) asked for through the control surface that Xero would refuse."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


# --- Dates --------------------------------------------------------------------------------------------


def ms_datetime(moment: datetime) -> str:
    """``/Date(1552595972920+0000)/``: milliseconds since the epoch, UTC."""
    return f"/Date({int(moment.astimezone(UTC).timestamp() * 1000)}+0000)/"


def ms_date(day: date) -> str:
    return ms_datetime(datetime.combine(day, time(), tzinfo=UTC))


def parse_date(value: Any) -> date | None:
    """A request date: ``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm:ss`` or MS-JSON; None if it is none of them."""
    if not isinstance(value, str):
        return None
    moment = ms_to_datetime(value)
    if moment is not None:
        return moment.date()
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        return None


def lock_text(day: date) -> str:
    """Xero writes lock dates in its messages as ``30-Nov-2018``."""
    return day.strftime("%d-%b-%Y")


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(CENT)}"


# --- The organisation ---------------------------------------------------------------------------------


class XeroOrganisation:
    """The books of one tenant. Not thread-safe: the sandbox holds its lock around every call."""

    def __init__(
        self, data: dict[str, Any], now: Callable[[], datetime], drafts_ignore_lock_dates: bool = True
    ) -> None:
        self.data = data
        self._now = now
        self.drafts_ignore_lock_dates = drafts_ignore_lock_dates

    @classmethod
    def seeded(cls, tenant_id: str, name: str, now: Callable[[], datetime]) -> XeroOrganisation:
        return cls(seeded_organisation(tenant_id, name, now()), now)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @property
    def tenant_id(self) -> str:
        return self.data["organisation"]["OrganisationID"]

    @property
    def base_currency(self) -> str:
        return self.data["organisation"]["BaseCurrency"]

    # --- Views (what the API returns) ----------------------------------------------------------------

    def organisation_view(self) -> dict[str, Any]:
        view = copy.deepcopy(self.data["organisation"])
        view["CreatedDateUTC"] = ms_datetime(datetime.fromisoformat(view["CreatedDateUTC"]))
        for key, name in (
            ("period_lock_date", "PeriodLockDate"),
            ("end_of_year_lock_date", "EndOfYearLockDate"),
        ):
            if self.data[key]:
                view[name] = ms_date(date.fromisoformat(self.data[key]))
        return view

    def accounts_view(self) -> list[dict[str, Any]]:
        return [
            record | {"UpdatedDateUTC": ms_datetime(self._now())}
            for record in copy.deepcopy(self.data["accounts"])
        ]

    def tracking_view(self, include_archived: bool = False) -> list[dict[str, Any]]:
        found = []
        for category in copy.deepcopy(self.data["tracking"]):
            if category["Status"] != "ACTIVE" and not include_archived:
                continue
            if not include_archived:
                category["Options"] = [o for o in category["Options"] if o["Status"] == "ACTIVE"]
            found.append(category)
        return found

    def journal_view(self, record: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(record)
        view["Date"] = ms_date(date.fromisoformat(record["Date"]))
        view["UpdatedDateUTC"] = ms_datetime(datetime.fromisoformat(record["UpdatedDateUTC"]))
        return view

    def journals_view(self) -> list[dict[str, Any]]:
        return [self.journal_view(record) for record in self.data["journals"]]

    def journal(self, journal_id: str) -> dict[str, Any] | None:
        wanted = journal_id.lower()
        return next((j for j in self.data["journals"] if j["ManualJournalID"] == wanted), None)

    def invoice_view(self, record: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(record)
        for name in ("Date", "DueDate"):
            view[name] = ms_date(date.fromisoformat(record[name]))
        view["UpdatedDateUTC"] = ms_datetime(datetime.fromisoformat(record["UpdatedDateUTC"]))
        return view

    def invoices_view(self) -> list[dict[str, Any]]:
        return [self.invoice_view(record) for record in self.data["invoices"]]

    def invoice(self, invoice_id: str) -> dict[str, Any] | None:
        wanted = invoice_id.lower()
        return next((i for i in self.data["invoices"] if i["InvoiceID"] == wanted), None)

    # --- Lock dates ----------------------------------------------------------------------------------

    def set_lock_dates(self, period: date | str | None, end_of_year: date | str | None) -> None:
        self.data["period_lock_date"] = _iso_or_none(period)
        self.data["end_of_year_lock_date"] = _iso_or_none(end_of_year)

    def lock_refusal(self, day: date) -> str | None:
        """Xero's message when ``day`` is on or before a lock date; the end-of-year lock applies first."""
        end_of_year, period = self.data["end_of_year_lock_date"], self.data["period_lock_date"]
        if end_of_year and day <= date.fromisoformat(end_of_year):
            return (
                "The document date cannot be before the end of year lock date, currently set at "
                + lock_text(date.fromisoformat(end_of_year))
            )
        if period and day <= date.fromisoformat(period):
            return "The document date cannot be before the period lock date, currently set at " + lock_text(
                date.fromisoformat(period)
            )
        return None

    # --- Manual journals through the API -------------------------------------------------------------

    def create_journal(self, element: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """Validate and store a new journal; (stored record, []) or (None, Xero's messages)."""
        if not isinstance(element, dict):
            return None, ["A manual journal must be a JSON object."]
        status = element.get("Status") or "DRAFT"
        if status not in CREATE_STATUSES:
            return None, [f"Status '{status}' is not valid for a new manual journal; use DRAFT or POSTED."]
        record, errors = self._checked(element, status, journal_id=str(uuid.uuid4()))
        if record is not None:
            self.data["journals"].append(record)
        return record, errors

    def update_journal(
        self, journal_id: str, element: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """POST with a ManualJournalID: fields given replace the stored ones (lines as a whole)."""
        stored = self.journal(journal_id)
        if stored is None:
            return None, [f"Manual journal '{journal_id}' does not exist."]
        if stored["Status"] in ("DELETED", "VOIDED"):
            return None, [f"A {stored['Status'].lower()} manual journal cannot be changed."]
        merged = self._as_request(stored) | {k: v for k, v in element.items() if v is not None}
        record, errors = self._checked(
            merged, merged.get("Status") or stored["Status"], journal_id=journal_id
        )
        if record is not None:
            stored.clear()
            stored.update(record)
        return record, errors

    def _checked(
        self, element: dict[str, Any], status: str, journal_id: str
    ) -> tuple[dict[str, Any] | None, list[str]]:
        errors: list[str] = []
        narration = element.get("Narration")
        if not isinstance(narration, str) or not narration.strip():
            errors.append("Narration must be provided.")
        day = parse_date(element["Date"]) if element.get("Date") else self._now().date()
        if day is None:
            errors.append(f"Date '{element.get('Date')}' is not a valid date.")
        amount_types = element.get("LineAmountTypes") or "NoTax"
        if amount_types not in LINE_AMOUNT_TYPES:
            errors.append(
                f"LineAmountTypes '{amount_types}' is not valid; use Exclusive, Inclusive or NoTax."
            )
        lines = element.get("JournalLines") or []
        if not isinstance(lines, list) or len(lines) < 2:
            errors.append("A manual journal must have at least two journal lines.")
            lines = lines if isinstance(lines, list) else []
        elif len(lines) > MAX_JOURNAL_LINES:
            errors.append(
                f"A manual journal can have at most {MAX_JOURNAL_LINES} journal lines; this one has {len(lines)}."
            )
        stored_lines = [self._line(line, errors) for line in lines]
        amounts = [a for a in (_amount(line) for line in lines) if a is not None]
        if len(amounts) == len(lines) and sum(amounts, Decimal(0)) != 0:
            debits = sum((a for a in amounts if a > 0), Decimal(0))
            credits = sum((a for a in amounts if a < 0), Decimal(0))
            errors.append(f"The total debits ({_money(debits)}) must equal total credits ({_money(credits)})")
        if day is not None and (status == "POSTED" or not self.drafts_ignore_lock_dates):
            refusal = self.lock_refusal(day)
            if refusal:
                errors.append(refusal)
        if errors:
            return None, errors
        assert day is not None
        record = {
            "ManualJournalID": journal_id,
            "Date": day.isoformat(),
            "Status": status,
            "LineAmountTypes": amount_types,
            "Narration": narration,
            "JournalLines": stored_lines,
            "ShowOnCashBasisReports": element.get("ShowOnCashBasisReports", True) is not False,
            "HasAttachments": False,
            "UpdatedDateUTC": self._now().isoformat(),
        }
        if element.get("Url"):
            record["Url"] = element["Url"]
        return record, []

    def _line(self, line: Any, errors: list[str]) -> dict[str, Any] | None:
        if not isinstance(line, dict):
            errors.append("A journal line must be a JSON object.")
            return None
        amount = _amount(line)
        if amount is None:
            errors.append(f"LineAmount {line.get('LineAmount')!r} is not a number.")
            return None
        if amount != amount.quantize(CENT):
            errors.append(f"LineAmount {amount} has more than 2 decimal places.")
        account = self._account(line.get("AccountCode"), line.get("AccountID"), errors)
        tracking = line.get("Tracking") or []
        if len(tracking) > 2:
            errors.append("A journal line cannot have more than 2 tracking categories.")
            tracking = []
        options = [self._tracking_option(choice, errors) for choice in tracking]
        if account is None:
            return None
        return {
            "Description": str(line.get("Description") or ""),
            "TaxType": "NONE",
            "TaxAmount": Decimal("0.00"),
            "LineAmount": amount,
            "AccountCode": account["Code"],
            "AccountID": account["AccountID"],
            "Tracking": [option for option in options if option is not None],
            "IsBlank": False,
        }

    def _account(self, code: Any, account_id: Any, errors: list[str]) -> dict[str, Any] | None:
        if code:
            found = next((a for a in self.data["accounts"] if a["Code"] == str(code)), None)
        elif account_id:
            found = next(
                (a for a in self.data["accounts"] if a["AccountID"] == str(account_id).lower()), None
            )
        else:
            errors.append("Each journal line must have an AccountCode or an AccountID.")
            return None
        label = str(code or account_id)
        if found is None:
            errors.append(f"Account code '{label}' is not a valid code for this document.")
            return None
        if found["Status"] != "ACTIVE":
            errors.append(
                f"Account code '{label}' has been archived, or deleted. Each line item must reference a valid account."
            )
            return None
        if found.get("SystemAccount"):
            errors.append(
                f"Account code '{label}' is a system account ({found['SystemAccount']}) and cannot be used in a manual journal."
            )
            return None
        if found["Type"] in NOT_JOURNALABLE_TYPES:
            errors.append(
                f"{NOT_JOURNALABLE_TYPES[found['Type']]} '{label}' cannot be used in a manual journal."
            )
            return None
        return found

    def _tracking_option(self, choice: Any, errors: list[str]) -> dict[str, Any] | None:
        if not isinstance(choice, dict):
            errors.append("A tracking entry must be a JSON object.")
            return None
        category = next(
            (
                c
                for c in self.data["tracking"]
                if c["Name"] == choice.get("Name")
                or c["TrackingCategoryID"] == choice.get("TrackingCategoryID")
            ),
            None,
        )
        if category is None:
            errors.append(
                f"The tracking category '{choice.get('Name') or choice.get('TrackingCategoryID')}' does not exist."
            )
            return None
        if category["Status"] != "ACTIVE":
            errors.append(f"The tracking category '{category['Name']}' has been archived.")
            return None
        wanted = choice.get("Option") or choice.get("TrackingOptionID")
        option = next(
            (o for o in category["Options"] if wanted in (o["Name"], o["TrackingOptionID"])),
            None,
        )
        if option is None:
            errors.append(
                f"The tracking option '{wanted}' does not exist in tracking category '{category['Name']}'."
            )
            return None
        if option["Status"] != "ACTIVE":
            errors.append(
                f"The tracking option '{option['Name']}' in tracking category '{category['Name']}' has been archived."
            )
            return None
        return {
            "Name": category["Name"],
            "Option": option["Name"],
            "TrackingCategoryID": category["TrackingCategoryID"],
            "TrackingOptionID": option["TrackingOptionID"],
        }

    @staticmethod
    def _as_request(record: dict[str, Any]) -> dict[str, Any]:
        request = copy.deepcopy(record)
        request.pop("ManualJournalID", None)
        return request

    # --- What a person does in the Xero UI -----------------------------------------------------------

    def add_account(
        self, code: str, name: str, account_type: str, *, status: str = "ACTIVE", system_account: str = ""
    ) -> dict[str, Any]:
        if any(a["Code"] == code for a in self.data["accounts"]):
            raise XeroRefusal([f"Please enter a unique Code. Account code '{code}' is already in use."])
        record = account_record(code, name, account_type, system_account, status)
        self.data["accounts"].append(record)
        return copy.deepcopy(record)

    def set_account_status(self, code: str, status: str) -> dict[str, Any]:
        account = next((a for a in self.data["accounts"] if a["Code"] == code), None)
        if account is None:
            raise KeyError(f"no account with code {code}")
        account["Status"] = status
        return copy.deepcopy(account)

    def set_tracking_status(self, category: str, option: str | None, status: str) -> dict[str, Any]:
        """Archive (or reactivate) a tracking category, or one option of it when ``option`` is given."""
        found = next((c for c in self.data["tracking"] if c["Name"] == category), None)
        if found is None:
            raise KeyError(f"no tracking category {category}")
        if option is None:
            found["Status"] = status
            return copy.deepcopy(found)
        chosen = next((o for o in found["Options"] if o["Name"] == option), None)
        if chosen is None:
            raise KeyError(f"no option {option} in tracking category {category}")
        chosen["Status"] = status
        return copy.deepcopy(chosen)

    def journal_by_key(self, key: str) -> dict[str, Any]:
        """The live journal whose Narration starts with ``key`` (a tokenbooks key)."""
        for record in self.data["journals"]:
            if record["Narration"].startswith(key) and record["Status"] not in ("DELETED", "VOIDED"):
                return record
        raise KeyError(f"no manual journal narrated {key!r}")

    def delete_journal_by_hand(self, key: str) -> dict[str, Any]:
        """A person deletes a draft (DELETED) or voids a posted journal (VOIDED); lock dates are not checked."""
        record = self.journal_by_key(key)
        record["Status"] = "VOIDED" if record["Status"] == "POSTED" else "DELETED"
        record["UpdatedDateUTC"] = self._now().isoformat()
        return self.journal_view(record)

    def edit_journal_by_hand(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A person edits a journal (lines, date, narration); Xero validates the result as it would an API call."""
        record = self.journal_by_key(key)
        updated, errors = self.update_journal(record["ManualJournalID"], changes)
        if updated is None:
            raise XeroRefusal(errors)
        return self.journal_view(updated)

    # --- Bills (ACCPAY invoices) ---------------------------------------------------------------------

    def add_bill(
        self,
        contact: str,
        lines: list[tuple[str, Decimal, str]],
        *,
        bill_date: date,
        number: str = "",
        status: str = "AUTHORISED",
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Enter a supplier bill; ``lines`` are (account code, amount, description), amounts tax-free."""
        errors: list[str] = []
        line_items = []
        for code, amount, description in lines:
            account = self._account(code, None, errors)
            if account is not None:
                line_items.append(
                    {
                        "LineItemID": str(uuid.uuid4()),
                        "Description": description,
                        "Quantity": Decimal("1.0000"),
                        "UnitAmount": amount,
                        "AccountCode": account["Code"],
                        "TaxType": "NONE",
                        "TaxAmount": Decimal("0.00"),
                        "LineAmount": amount,
                        "Tracking": [],
                    }
                )
        if errors:
            raise XeroRefusal(errors)
        total = sum((item["LineAmount"] for item in line_items), Decimal("0.00"))
        record = {
            "InvoiceID": str(uuid.uuid4()),
            "Type": "ACCPAY",
            "InvoiceNumber": number,
            "Reference": "",
            "Contact": self._contact(contact),
            "Date": bill_date.isoformat(),
            "DueDate": bill_date.isoformat(),
            "Status": status,
            "LineAmountTypes": "NoTax",
            "LineItems": line_items,
            "SubTotal": total,
            "TotalTax": Decimal("0.00"),
            "Total": total,
            "AmountDue": total,
            "AmountPaid": Decimal("0.00"),
            "CurrencyCode": currency or self.base_currency,
            "CurrencyRate": Decimal("1.000000"),
            "HasAttachments": False,
            "UpdatedDateUTC": self._now().isoformat(),
        }
        self.data["invoices"].append(record)
        return self.invoice_view(record)

    def _contact(self, name: str) -> dict[str, Any]:
        found = next((c for c in self.data["contacts"] if c["Name"] == name), None)
        if found is None:
            found = {
                "ContactID": str(uuid.uuid4()),
                "Name": name,
                "ContactStatus": "ACTIVE",
                "IsSupplier": True,
            }
            self.data["contacts"].append(found)
        return {"ContactID": found["ContactID"], "Name": found["Name"]}


def _amount(line: Any) -> Decimal | None:
    """A line's LineAmount as a Decimal, or None when it is missing or not a number."""
    amount = line.get("LineAmount") if isinstance(line, dict) else None
    if isinstance(amount, int) and not isinstance(amount, bool):
        return Decimal(amount)
    return amount if isinstance(amount, Decimal) else None


def _iso_or_none(value: date | str | None) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()
