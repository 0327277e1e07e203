"""The QuickBooks Online error shapes the sandbox answers with.

QBO reports a failed call as a JSON ``Fault`` envelope::

    {"Fault": {"Error": [{"Message": …, "Detail": …, "code": "6140", "element": …}],
               "type": "ValidationFault"}, "time": …}

with the code as a *string*, and throttling as an XML ``IntuitResponse`` even when JSON was asked for.
Authentication (3200, HTTP 401) and authorization (3100, HTTP 403) refusals come from Intuit's gateway in
another shape: the same response object serialised with lower-case keys (``fault.error[].message``,
``detail`` often null, ``type`` ``SERVICE`` or ``AUTHENTICATION``, ``time`` in epoch milliseconds), or as
XML. Public captures: frappe/erpnext#29161 and intuit/oauth-jsclient#2 (403, 3100, JSON),
routablehq/python-quickbooks#118 and #250 (401, 3200, JSON), IntuitDeveloper/QBOConceptsTutorial-PHP#13
(403, 3100, XML), routablehq/python-quickbooks#120 and #369 (401, XML). ``QboFault.gateway`` marks them.
``QboFault`` is raised anywhere in the sandbox and turned into that envelope at the edge; the builder
functions below keep the Message/Detail texts in one place, quoted from erps.md §1.3–§1.9 and §2.1 where the
reference gives them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

__all__ = [
    "QboFault",
    "authentication_failed",
    "authorization_failed",
    "business_validation",
    "duplicate_doc_number",
    "invalid_company_status",
    "invalid_enumeration",
    "invalid_property",
    "invalid_reference",
    "object_not_found",
    "period_closed",
    "qbo_time",
    "query_parse_error",
    "query_validation_error",
    "required_missing",
    "stale_object",
    "system_error",
    "throttle_xml",
    "unsupported_property",
]


class QboFault(Exception):
    """One QBO error, with the HTTP status it travels with."""

    def __init__(
        self,
        code: str | int,
        message: str,
        detail: str,
        *,
        element: str = "",
        fault_type: str = "ValidationFault",
        status: int = 400,
        gateway: str = "",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = str(code)
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type
        self.status = status
        self.gateway = (
            gateway  # the gateway's `type` (SERVICE, AUTHENTICATION) for its own shapes; "" if none
        )

    def error(self) -> dict[str, Any]:
        """The entry that goes into ``Fault.Error``."""
        return {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}

    def fault(self) -> dict[str, Any]:
        """The ``Fault`` object (batch items carry it without the outer envelope)."""
        return {"Error": [self.error()], "type": self.fault_type}

    def envelope(self) -> dict[str, Any]:
        return {"Fault": self.fault()}

    def gateway_json(self, moment: datetime) -> dict[str, Any]:
        """The gateway's lower-case JSON, every field of the captures included (null where they are)."""
        error = {"message": self.message, "detail": self.detail or None, "code": self.code, "element": None}
        return {
            "warnings": None,
            "intuitObject": None,
            "fault": {"error": [error], "type": self.gateway},
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(moment.timestamp() * 1000),
            "status": None,
            "cdcresponse": [],
        }

    def gateway_xml(self, moment: datetime) -> str:
        detail = f"<Detail>{escape(self.detail)}</Detail>" if self.detail else ""
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{qbo_time(moment)}">'
            f'<Fault type="{self.fault_type}"><Error code="{self.code}"><Message>{escape(self.message)}</Message>'
            f"{detail}</Error></Fault></IntuitResponse>"
        )


def qbo_time(moment: datetime) -> str:
    """QBO's timestamp text, e.g. ``2025-01-01T09:00:00.000+00:00`` (the sandbox company runs on UTC)."""
    return moment.isoformat(timespec="milliseconds")


# --- Validation faults (HTTP 400) ------------------------------------------------------------------------


def invalid_property(detail: str, element: str = "") -> QboFault:
    return QboFault(2010, "Request has invalid or unsupported property", detail, element=element)


def unsupported_property(name: str, element: str = "") -> QboFault:
    return invalid_property(f"Property Name:{name} specified is unsupported or invalid", element or name)


def required_missing(name: str, element: str = "") -> QboFault:
    return QboFault(
        2020,
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=element or name,
    )


def invalid_enumeration(value: object, element: str) -> QboFault:
    return QboFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {value}", element=element)


def invalid_reference(kind: str, ref_id: object, element: str, reason: str = "not found") -> QboFault:
    return QboFault(
        2500,
        "Invalid Reference Id",
        f"Invalid Reference Id : {kind} element id {ref_id} {reason}",
        element=element,
    )


def business_validation(detail: str, element: str = "") -> QboFault:
    return QboFault(
        6000,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def stale_object() -> QboFault:
    return QboFault(
        5010,
        "Stale Object Error",
        "Stale Object Error : You and sandbox-user were working on this at the same time. "
        "sandbox-user finished before you did, so your work was not saved.",
        element="SyncToken",
    )


def object_not_found(entity: str, object_id: object) -> QboFault:
    return QboFault(
        610,
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        f"Check the fields with accounts, customers, items, vendors or employees. ({entity} Id={object_id})",
    )


def duplicate_doc_number(doc_number: str, txn_type: str, txn_id: str) -> QboFault:
    return QboFault(
        6140,
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has already been "
        f"used. DocNumber={doc_number} is assigned to TxnType={txn_type} with TxnId={txn_id}",
        element="DocNumber",
    )


def period_closed() -> QboFault:
    return QboFault(
        6210,
        "Account Period Closed",
        "The account period has closed and the account books cannot be updated through the QBO Services API. "
        "Please use the QBO website to make these changes.",
    )


def invalid_company_status() -> QboFault:
    """6190: the company's subscription ended, was cancelled, or has a billing problem (erps.md §1.9)."""
    return QboFault(
        6190,
        "Invalid Company Status",
        "Invalid Company Status : The subscription period has ended or the account has been cancelled. "
        "Resolve the billing problem in QuickBooks Online to continue.",
    )


def query_parse_error(problem: str) -> QboFault:
    return QboFault(4000, "Error parsing query", f"QueryParserError: {problem}")


def query_validation_error(problem: str) -> QboFault:
    return QboFault(4001, "Invalid query", f"QueryValidationError: {problem}")


# --- Authentication, authorization, server errors ----------------------------------------------------------


def authentication_failed(detail: str) -> QboFault:
    return QboFault(
        3200,
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        detail,
        fault_type="AuthenticationFault",
        status=401,
        gateway="AUTHENTICATION",
    )


def authorization_failed(detail: str) -> QboFault:
    return QboFault(
        3100,
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        detail,
        fault_type="SERVICE",
        status=403,
        gateway="SERVICE",
    )


def system_error(status: int = 500) -> QboFault:
    return QboFault(
        10000,
        "An application error has occurred while processing your request",
        "System Failure Error: the sandbox was told to fail this request",
        fault_type="SystemFault",
        status=status,
    )


# The exact throttle body from erps.md §2.1; note the two spaces in "reached.  Try".
_THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}">'
    '<Fault type="SERVICE"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "<Detail>The request limit was reached.  Try again later</Detail>"
    "</Error></Fault></IntuitResponse>"
)


def throttle_xml(moment: datetime) -> str:
    return _THROTTLE_XML.format(time=qbo_time(moment))
