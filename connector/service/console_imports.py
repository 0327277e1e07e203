"""Files imported from the console: an accountant uploads a FOCUS export, invoices, credit lots or customer
credits, and gets the same import `tokenbooks import …` runs — checked row by row, bad rows quarantined
with their row, column and fix, the tally (accepted + quarantined + skipped = input, in rows and amounts).

An upload is kept in the data directory (`imports/<UTC time>-<random>/<file name>`) before it is read, so
the import's lineage names a file that stays there for the auditor; the import is a run with the person as
its actor, and an `import.uploaded` event in the audit log says who uploaded what (name, size, sha256) and
how the import ended. A file that cannot be read at all stores nothing: its run is recorded `failed` and
the console shows the problems, as the command line does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from connector.domain.console import Page, RunSummary
from connector.domain.errors import InputError, Problem
from connector.service import imports
from connector.service.imports import ImportReport, focus_options
from connector.sources.focus_files import fingerprint

KINDS = {
    "focus": "FOCUS export (AWS Bedrock, Azure OpenAI, Vertex AI …: .csv, .csv.gz, .parquet)",
    "invoices": "Provider invoices (.csv or .json)",
    "credit_lots": "Prepaid credit lots bought (.csv or .json)",
    "customer_credits": "Credits you sell: customer credit events (.csv or .json)",
}
RUN_KINDS = ("import.focus", "import.invoices", "import.credits", "import.customer-credits")
ONE_FILE = ("credit_lots", "customer_credits")  # as `tokenbooks import credits|customer-credits` take
MAX_FILES = 20


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: the name the browser gave and its content."""

    name: str
    content: bytes


@dataclass
class ConsoleImport:
    """What the console shows after an upload: the import's report, or why the file could not be read."""

    kind: str
    files: list[Path]
    reports: list[ImportReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # a file not readable at all: nothing stored
    message: str = ""
    fix: str = ""

    @property
    def status(self) -> str:
        if self.problems or any(r.status == "failed" for r in self.reports):
            return "failed"
        return "partial" if any(r.status == "partial" for r in self.reports) else "succeeded"


def import_uploads(
    app: Any,
    *,
    kind: str,
    uploads: Sequence[Upload],
    entity: str,
    focus: dict[str, str] | None = None,
) -> ConsoleImport:
    """Keep the uploads, import them as `tokenbooks import <kind>` would (app acting as the person), and
    record who uploaded what."""
    if kind not in KINDS:
        raise InputError(f"there is no {kind!r} import", fix=f"choose one of: {', '.join(KINDS)}")
    uploads = [u for u in uploads if u.name or u.content]
    if not uploads:
        raise InputError("no file was chosen", fix="choose the file(s) to import, then Import")
    if len(uploads) > MAX_FILES:
        raise InputError(f"{len(uploads)} files at once", fix=f"import at most {MAX_FILES} files at a time")
    if kind in ONE_FILE and len(uploads) > 1:
        raise InputError(f"a {kind.replace('_', ' ')} import reads one file", fix="choose one file")
    paths = _keep(app, uploads)
    result = ConsoleImport(kind, paths)
    try:
        result.reports = _run(app, kind, paths, entity, focus or {})
    except InputError as exc:
        result.problems = list(exc.problems) or [
            Problem(", ".join(p.name for p in paths), "", "", exc.message)
        ]
        result.message, result.fix = exc.message, exc.fix
    _record(app, result, entity)
    return result


def recent_imports(app: Any, entity: str, limit: int = 20) -> list[RunSummary]:
    """The entity's newest imports of any kind (from the console or the command line), newest first."""
    with app.store.unit_of_work() as uow:
        found = [
            r
            for kind in RUN_KINDS
            for r in uow.console.runs(entity=entity, kind=kind, page=Page(1, limit))[0]
        ]
    return sorted(found, key=lambda r: r.started_at, reverse=True)[:limit]


def _run(app: Any, kind: str, paths: list[Path], entity: str, focus: dict[str, str]) -> list[ImportReport]:
    if kind == "focus":
        options = focus_options(
            app,
            entity,
            provider=focus.get("provider") or None,
            account=focus.get("account") or None,
            currency=focus.get("currency") or None,
        )
        if focus.get("all_services"):
            options = replace(options, services=None)
        return [imports.import_focus(app, paths, options)]
    importer = {
        "invoices": imports.import_invoices,
        "credit_lots": imports.import_credit_lots,
        "customer_credits": imports.import_customer_credits,
    }[kind]
    return [importer(app, path, entity=entity) for path in paths]


def _keep(app: Any, uploads: Sequence[Upload]) -> list[Path]:
    """The uploads written under the data directory, each under its own (made safe) name."""
    folder = Path(app.settings.data_dir) / "imports" / f"{app.clock():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True, exist_ok=False)
    paths, taken = [], set()
    for number, upload in enumerate(uploads, start=1):
        name = safe_name(upload.name, number)
        while name in taken:
            name = f"{number}-{name}"
        taken.add(name)
        path = folder / name
        path.write_bytes(upload.content)
        paths.append(path)
    return paths


def safe_name(name: str, number: int = 1) -> str:
    """A browser's file name as a plain file name here: no folders, no leading dots, nothing odd."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")
    return base[:120] or f"upload-{number}"


def _record(app: Any, result: ConsoleImport, entity: str) -> None:
    files = []
    for path in result.files:
        size, sha = fingerprint(path)
        files.append({"name": path.name, "path": str(path), "size": size, "sha256": sha})
    with app.store.unit_of_work() as uow:
        uow.events.append(
            "import.uploaded",
            f"{app.actor} uploaded {len(files)} file(s) for a {result.kind.replace('_', ' ')} import of "
            f"{entity} in the console: {result.status}",
            actor=app.actor,
            data={
                "entity": entity,
                "kind": result.kind,
                "files": files,
                "status": result.status,
                "imports": [r.import_id for r in result.reports],
                "runs": [r.run_id for r in result.reports],
                "tally": [r.tally.as_dict() for r in result.reports],
                "problems": [str(p) for p in result.problems[:50]],
            },
            now=app.clock(),
        )
        uow.commit()
