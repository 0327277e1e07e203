"""Contract checks against the official specs in ../shared/specs (OpenAI usage/costs, Xero accounting)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from tests.support import SHARED


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((SHARED / "specs" / name).read_text())


def openai_schema_errors(document: Any, schema: str = "UsageResponse") -> list[str]:
    """Every way `document` breaks the OpenAI spec's schema (empty when it conforms)."""
    spec = _spec("openai_usage_costs.yaml")
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


# --- Xero: every exchange the Xero sandbox logged, against xero_accounting.yaml / xero_identity.yaml ---------

XERO_API_PREFIX = "/api.xro/2.0"


@functools.cache
def _xero_openapi(name: str) -> Any:
    from jsonschema_path import SchemaPath
    from openapi_core import Config, OpenAPI

    # The C loader reads the 900 KB spec in under a second. The spec itself fails openapi-spec-validator on
    # examples it types wrongly (e.g. a boolean whose default is the string "false"), so that check is off;
    # requests and responses are still validated against its schemas.
    text = (SHARED / "specs" / name).read_text()
    spec = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return OpenAPI(SchemaPath.from_dict(spec), config=Config(spec_validator_cls=None))


@dataclass
class XeroExchangeCheck:
    """How one logged exchange measures against the official spec."""

    request_errors: list[str] = field(default_factory=list)
    response_errors: list[str] = field(default_factory=list)
    response_checked: bool = False  # False when the spec defines no answer with that status

    @property
    def errors(self) -> list[str]:
        return self.request_errors + self.response_errors


def xero_exchange_check(entry: dict[str, Any]) -> XeroExchangeCheck:
    """Check one exchange of the Xero sandbox's request log against xero_accounting.yaml / xero_identity.yaml.

    The request is always checked. The response is checked when the spec defines that status for the
    operation (it defines no 401, 403, 429 or 5xx, erps.md §8). Paths no spec describes (the OAuth token and
    authorize endpoints) are not checked; Xero's paths are case-insensitive (``/connections``).
    """
    import warnings
    from urllib.parse import urlencode

    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
    from openapi_core.templating.paths.exceptions import PathNotFound
    from openapi_core.templating.responses.exceptions import ResponseNotFound
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request, Response

    is_api = entry["path"].startswith(XERO_API_PREFIX)
    spec = "xero_accounting.yaml" if is_api else "xero_identity.yaml"
    base = "https://api.xero.com" + (XERO_API_PREFIX if is_api else "")
    path = entry["path"][len(XERO_API_PREFIX) :] if is_api else entry["path"]
    if path.lower().startswith("/connections"):
        path = "/Connections" + path[len("/connections") :]
    environ = EnvironBuilder(
        method=entry["method"],
        base_url=base,
        path=path,
        query_string=urlencode(entry["params"]),
        headers=entry["headers"],
        data=entry["body"].encode(),
    ).get_environ()
    request = WerkzeugOpenAPIRequest(Request(environ))
    check = XeroExchangeCheck()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unsupported scheme type": oauth2 is not checked
        api = _xero_openapi(spec)
        try:
            api.validate_request(request)
        except PathNotFound:
            return check
        except Exception as error:
            check.request_errors.append(f"request {entry['method']} {entry['path']}: {_explain(error)}")
        if entry.get("response") is not None:
            response = Response(entry["response"], status=entry["status"], content_type="application/json")
            try:
                api.validate_response(request, WerkzeugOpenAPIResponse(response))
                check.response_checked = True
            except ResponseNotFound:
                pass
            except Exception as error:
                check.response_checked = True
                what = f"response {entry['status']} to {entry['method']} {entry['path']}"
                check.response_errors.append(f"{what}: {_explain(error)}")
    return check


def _explain(error: Exception) -> str:
    cause = error.__cause__
    details = [str(e.message) for e in getattr(cause, "schema_errors", ()) or ()]
    return f"{error}" + (f" ({'; '.join(details)})" if details else "")
