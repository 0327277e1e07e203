"""Deployment files: they parse, run tokenbooks as a non-root service with a health check, and name only
settings that exist (a typo in an environment variable would be silently ignored in production)."""

import re
from pathlib import Path

import yaml

from connector.domain.alerts import parse_budgets
from connector.settings import Settings
from tests.test_settings import env_names

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KNOWN = set(env_names(Settings))


def variables_named(text: str) -> set[str]:
    return set(re.findall(r"\bTOKENBOOKS_[A-Z0-9_]+", text)) - {"TOKENBOOKS_TEST_POSTGRES_URL"}


def test_every_deployment_file_names_only_settings_that_exist():
    files = [p for p in DEPLOY.rglob("*") if p.is_file()] + [ROOT / "docs" / "deployment.md"]
    unknown = {str(p.relative_to(ROOT)): sorted(variables_named(p.read_text()) - KNOWN) for p in files}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_compose_runs_the_service_beside_postgresql_with_secrets_from_outside():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"db", "tokenbooks"}
    service = compose["services"]["tokenbooks"]
    assert service["env_file"] == ["tokenbooks.env"]
    assert not any("SECRET" in k or "KEY" in k or "PASSWORD" in k for k in service["environment"])
    assert compose["services"]["db"]["image"].startswith("postgres:")


def test_the_cronjob_takes_its_secrets_from_a_secret_reference():
    job = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    assert job["kind"] == "CronJob"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"][:2] == ["tokenbooks", "sync"]
    assert {"secretRef": {"name": "tokenbooks-secrets"}} in container["envFrom"]
    assert all("value" not in e or "SECRET" not in e["name"] for e in container["env"])
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_image_runs_serve_as_a_non_root_user_with_a_health_check():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER tokenbooks$", dockerfile, re.M)
    assert 'CMD ["tokenbooks", "serve"]' in dockerfile
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert "ENCRYPTION_KEY" not in dockerfile
    assert "ADMIN_KEY" not in dockerfile


def test_the_systemd_units_run_the_nightly_sync():
    service = (DEPLOY / "systemd" / "tokenbooks.service").read_text()
    timer = (DEPLOY / "systemd" / "tokenbooks.timer").read_text()
    assert "ExecStart=/opt/tokenbooks/.venv/bin/tokenbooks sync" in service
    assert "EnvironmentFile=/etc/tokenbooks/tokenbooks.env" in service
    assert "OnCalendar=*-*-* 02:30:00" in timer
    assert "Persistent=true" in timer


def test_the_example_budgets_file_is_valid():
    budgets, problems = parse_budgets((ROOT / "mappings" / "budgets.yaml").read_text(), "budgets.yaml")
    assert problems == []
    assert {b.cost_center for b in budgets} >= {"Support Assistant", "Engineering"}
