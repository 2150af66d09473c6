"""The API's optional custom domain (deploy/domain.py): the packaged template resolved without
and with the domain parameters, each branch clean for cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploy.checks import check_template
from deploy.domain import DOMAIN_ID, HAS_CUSTOM_DOMAIN, MAPPING_ID, RECORD_ID
from deploy.package import cfn_lint
from tests.deploy_kit import resolve

DOMAIN = {
    "DomainName": "jobs.example.com",
    "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f7b8a2c-1111-2222-3333-444455556666",
}
DOMAIN_RESOURCES = {DOMAIN_ID, MAPPING_ID, RECORD_ID}


def test_without_a_domain_the_template_creates_none_and_the_url_is_the_stage_url(template: dict[str, Any]) -> None:
    plain = resolve(template)
    assert not DOMAIN_RESOURCES & set(plain["Resources"])
    assert "ApiDomainTarget" not in plain["Outputs"]
    url = plain["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
    assert url == "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/api/"
    # A domain without its certificate is no domain.
    assert not DOMAIN_RESOURCES & set(resolve(template, {"DomainName": DOMAIN["DomainName"]})["Resources"])


def test_with_a_domain_its_root_maps_to_the_stage_so_routes_read_slash_api(template: dict[str, Any]) -> None:
    served = resolve(template, DOMAIN)
    domain = served["Resources"][DOMAIN_ID]
    assert domain["Type"] == "AWS::ApiGateway::DomainName"
    assert domain["Properties"]["DomainName"] == DOMAIN["DomainName"]
    assert domain["Properties"]["RegionalCertificateArn"] == DOMAIN["CertificateArn"]
    assert domain["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    mapping = served["Resources"][MAPPING_ID]["Properties"]
    assert "BasePath" not in mapping, "an empty base path: the domain's root is the stage"
    assert mapping["RestApiId"] == {"Ref": "RestAPI"} and mapping["Stage"] == {"Ref": "RestAPI.Stage"}
    assert served["Outputs"]["ApiUrl"]["Value"] == {"Fn::Sub": "https://${DomainName}/api/"}
    assert served["Outputs"]["ApiDomainTarget"]["Value"] == {"Fn::GetAtt": [DOMAIN_ID, "RegionalDomainName"]}
    assert RECORD_ID not in served["Resources"], "no hosted zone given: DNS is the deployer's"
    zoned = resolve(template, {**DOMAIN, "HostedZoneId": "Z0123456789ABCDEFGHIJ"})
    record = zoned["Resources"][RECORD_ID]["Properties"]
    assert record["Name"] == DOMAIN["DomainName"] and record["Type"] == "A"
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": [DOMAIN_ID, "RegionalDomainName"]}


def test_the_domain_resources_hang_on_their_conditions(template: dict[str, Any]) -> None:
    for name in (DOMAIN_ID, MAPPING_ID):
        assert template["Resources"][name]["Condition"] == HAS_CUSTOM_DOMAIN
    assert template["Resources"][RECORD_ID]["Condition"] == "HasDnsRecord"
    assert all(template["Parameters"][p]["Default"] == "" for p in ("DomainName", "CertificateArn", "HostedZoneId"))


def _referenced(resolved: dict[str, Any]) -> dict[str, Any]:
    """``resolved`` with only the parameters it still refers to (cfn-lint warns of unused ones)."""
    text = json.dumps({key: resolved[key] for key in ("Resources", "Outputs", "Conditions")})
    parameters = {
        name: spec
        for name, spec in resolved["Parameters"].items()
        if f'"Ref": "{name}"' in text or f"${{{name}}}" in text
    }
    return {**resolved, "Parameters": parameters, "Conditions": {}}


@pytest.mark.parametrize("parameters", [{}, DOMAIN, {**DOMAIN, "HostedZoneId": "Z0123456789ABCDEFGHIJ"}])
def test_each_branch_passes_the_checks_and_cfn_lint(
    template: dict[str, Any], parameters: dict[str, str], tmp_path: Path
) -> None:
    resolved = _referenced(resolve(template, parameters))
    assert check_template(resolved) == []
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(resolved))
    assert cfn_lint(path) is None
