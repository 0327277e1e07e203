"""AWS Cost Explorer and Azure Cost Management pulled by the real pull service (issue 16): configured
through settings they join the entity's sources, their facts are stored, and a re-run over the same data
stores nothing new, while a restated day versions its fact."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3
import responses
from botocore.stub import Stubber

from connector.retrying import RetryPolicy, no_sleep
from connector.service.pull import pull_sources
from connector.settings import AwsCostExplorerSettings, AzureCostSettings
from connector.sources.aws_cost_explorer import AwsCostExplorerSource
from connector.sources.azure_cost_management import AzureCostManagementSource
from connector.sources.base import Window
from tests.service.test_ingestion import make_app, stored_facts
from tests.sources.test_aws_cost_explorer import PAGE_1, PAGE_2
from tests.sources.test_azure_cost_management import PAGE_1 as AZURE_PAGE_1
from tests.sources.test_azure_cost_management import PAGE_2 as AZURE_PAGE_2
from tests.sources.test_azure_cost_management import QUERY, SCOPE, TOKEN_URL

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 3)


def stubbed_aws_source(*pages: dict) -> AwsCostExplorerSource:
    client = boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="AKIATEST", aws_secret_access_key="x"
    )
    source = AwsCostExplorerSource(
        client,
        account="123456789012",
        entity="acme-us",
        timezone="America/New_York",
        retry=RetryPolicy(2, sleep=no_sleep),
        lag_days=0,
    )
    stub = Stubber(client)
    for page in pages:
        stub.add_response("get_cost_and_usage", page)
    stub.activate()
    return source


def test_cost_explorer_facts_are_stored_once_and_a_restated_day_versions_its_fact(tmp_path: Path):
    app = make_app(tmp_path, "aws.db", sources=[stubbed_aws_source(PAGE_1, PAGE_2)])
    first = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert first.status == "succeeded", first.reason
    stored = stored_facts(app)
    assert len(stored) == 4
    assert sum(amount for _key, amount, *_ in stored) == Decimal("19.1956789013")

    app.source_overrides = [stubbed_aws_source(PAGE_1, PAGE_2)]
    again = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert again.status == "succeeded", again.reason
    assert (again.pulls[0].replaced.inserted, again.pulls[0].replaced.restated) == (0, 0)
    assert stored_facts(app) == stored

    restated = copy.deepcopy(PAGE_2)
    restated["ResultsByTime"][0]["Groups"][0]["Metrics"]["UnblendedCost"]["Amount"] = "7.35"
    app.source_overrides = [stubbed_aws_source(PAGE_1, restated)]
    third = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert (third.pulls[0].replaced.inserted, third.pulls[0].replaced.restated) == (0, 1)
    versions = {key: version for key, _amount, version, *_ in stored_facts(app)}
    assert sorted(versions.values()) == [1, 1, 1, 2]


def azure_settings() -> AzureCostSettings:
    return AzureCostSettings(
        tenant_id="tenant-1", client_id="app-1", client_secret="s3cret", scope=SCOPE, lag_days=0
    )


@responses.activate
def test_azure_configured_in_settings_is_pulled_and_a_rerun_stores_nothing_new(tmp_path: Path):
    app = make_app(tmp_path, "azure.db", azure_cost=azure_settings())
    [source] = app.sources("acme-us")
    assert isinstance(source, AzureCostManagementSource)
    responses.add(responses.POST, TOKEN_URL, json={"access_token": "tok", "token_type": "Bearer"})
    for _ in range(2):
        responses.add(responses.POST, QUERY, body=AZURE_PAGE_1)
        responses.add(responses.POST, QUERY + "&$skiptoken=page2", body=AZURE_PAGE_2)
    first = pull_sources(app, entity="acme-us", since=FIRST, until=date(2026, 11, 2))
    assert first.status == "succeeded", first.reason
    stored = stored_facts(app)
    assert sum(amount for _key, amount, *_ in stored) == Decimal("15.345679901234")
    again = pull_sources(app, entity="acme-us", since=FIRST, until=date(2026, 11, 2))
    assert again.pulls[0].replaced.inserted == 0
    assert again.pulls[0].replaced.restated == 0
    assert stored_facts(app) == stored


def test_cost_explorer_enabled_in_settings_builds_a_client_without_botocores_own_retries(tmp_path: Path):
    settings = AwsCostExplorerSettings(enabled=True, access_key_id="AKIATEST", secret_access_key="x")
    app = make_app(tmp_path, "wiring.db", aws_cost_explorer=settings)
    [source] = app.sources("acme-us")
    assert isinstance(source, AwsCostExplorerSource)
    assert source.client.meta.endpoint_url == "https://ce.us-east-1.amazonaws.com"
    assert source.client.meta.config.retries["total_max_attempts"] == 1
    assert "Amazon Bedrock" in source.request(Window(FIRST, LAST))["Filter"]["Dimensions"]["Values"]


def test_nothing_cloud_is_pulled_unless_configured(tmp_path: Path):
    assert make_app(tmp_path, "none.db").sources("acme-us") == []
