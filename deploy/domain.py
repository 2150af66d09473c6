"""An optional custom domain for the API: `https://<DomainName>/api/...` instead of the stage URL.

Chalice names the API Gateway stage `api` and the routes start with `/api`, so the stage URL
reads `.../api/api/health`. A custom domain whose base path mapping has an empty base path maps
the domain's root to the stage, and the routes' own `/api` is all that shows. With `DomainName`
and `CertificateArn` empty (the defaults) none of this is created.
"""

from __future__ import annotations

from typing import Any

HAS_CUSTOM_DOMAIN = "HasCustomDomain"
HAS_DNS_RECORD = "HasDnsRecord"
DOMAIN_ID = "ApiDomainName"
MAPPING_ID = "ApiBasePathMapping"
RECORD_ID = "ApiDomainRecord"
REST_API_ID = "RestAPI"  # Chalice's AWS::Serverless::Api


def _set(name: str) -> dict[str, Any]:
    return {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]}


def parameters() -> dict[str, Any]:
    return {
        "DomainName": {
            "Type": "String",
            "Default": "",
            "Description": "Custom domain for the API (api.example.com); empty: the execute-api URL only.",
        },
        "CertificateArn": {
            "Type": "String",
            "Default": "",
            "Description": "ACM certificate for DomainName, in the stack's region (a regional endpoint).",
        },
        "HostedZoneId": {
            "Type": "String",
            "Default": "",
            "Description": "Route 53 hosted zone to create DomainName's alias record in; empty: point DNS yourself "
            "at the ApiDomainTarget output.",
        },
    }


def conditions() -> dict[str, Any]:
    return {
        HAS_CUSTOM_DOMAIN: {"Fn::And": [_set("DomainName"), _set("CertificateArn")]},
        HAS_DNS_RECORD: {"Fn::And": [{"Condition": HAS_CUSTOM_DOMAIN}, _set("HostedZoneId")]},
    }


def resources() -> dict[str, Any]:
    return {
        DOMAIN_ID: {
            "Type": "AWS::ApiGateway::DomainName",
            "Condition": HAS_CUSTOM_DOMAIN,
            "Properties": {
                "DomainName": {"Ref": "DomainName"},
                "RegionalCertificateArn": {"Ref": "CertificateArn"},
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
            },
        },
        MAPPING_ID: {
            "Type": "AWS::ApiGateway::BasePathMapping",
            "Condition": HAS_CUSTOM_DOMAIN,
            "Properties": {
                "DomainName": {"Ref": DOMAIN_ID},
                "RestApiId": {"Ref": REST_API_ID},
                # SAM's name for the API's stage: a reference to it also waits for the stage.
                "Stage": {"Ref": f"{REST_API_ID}.Stage"},
            },
        },
        RECORD_ID: {
            "Type": "AWS::Route53::RecordSet",
            "Condition": HAS_DNS_RECORD,
            "Properties": {
                "HostedZoneId": {"Ref": "HostedZoneId"},
                "Name": {"Ref": "DomainName"},
                "Type": "A",
                "AliasTarget": {
                    "DNSName": {"Fn::GetAtt": [DOMAIN_ID, "RegionalDomainName"]},
                    "HostedZoneId": {"Fn::GetAtt": [DOMAIN_ID, "RegionalHostedZoneId"]},
                },
            },
        },
    }


def outputs(stage_name: str) -> dict[str, Any]:
    return {
        "ApiUrl": {
            "Description": "Where the routes start: health is <ApiUrl>health.",
            "Value": {
                "Fn::If": [
                    HAS_CUSTOM_DOMAIN,
                    {"Fn::Sub": "https://${DomainName}/api/"},
                    {
                        "Fn::Sub": f"https://${{{REST_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage_name}/api/"
                    },
                ]
            },
        },
        "ApiDomainTarget": {
            "Condition": HAS_CUSTOM_DOMAIN,
            "Description": "The host name DomainName's DNS record (CNAME or alias) points at.",
            "Value": {"Fn::GetAtt": [DOMAIN_ID, "RegionalDomainName"]},
        },
    }
