"""OpenTelemetry traces, optional: spans for each sync run, each source pull and each posting batch.

tokenbooks speaks only the OpenTelemetry API, and only if it is installed (`pip install
'tokenbooks[otel]'`); without it every span is a no-op. Where the spans go is the SDK's business, set
up outside tokenbooks — e.g. `opentelemetry-instrument tokenbooks serve` with the standard
`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME` variables (opentelemetry-distro). Span attributes
carry the run id, entity, source and counts; never a secret, never an amount.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

TRACER = "tokenbooks"


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span named `name` around a block, or nothing when OpenTelemetry is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return nullcontext()
    values = {key: value if isinstance(value, int | str) else str(value) for key, value in attributes.items()}
    return trace.get_tracer(TRACER).start_as_current_span(
        name, attributes={k: v for k, v in values.items() if v is not None}
    )
