"""The config fields of the hosted kinds (azure, bedrock, Vertex AI through gemini), api_key_command,
and the ${VAR} values the redactor learns."""
from __future__ import annotations

import pytest

from tokenrace.config.models import VertexTarget
from tokenrace.secrets import MASK

from tests.config.test_loader import error, one, parse


def test_azure_needs_its_resource_url_and_takes_deployment_and_api_version():
    e = error("providers:\n  - name: p\n    kind: azure\n    model: m\n")
    assert e.field == "providers[0].base_url" and "https://RESOURCE.openai.azure.com" in str(e)
    p = one("    kind: azure\n    model: gpt-4o\n    base_url: https://r.openai.azure.com/\n"
            "    deployment: prod-4o\n    api_version: 2025-01-01-preview\n")
    assert (p.base_url, p.deployment, p.api_version) == ("https://r.openai.azure.com", "prod-4o", "2025-01-01-preview")
    p = one("    kind: azure\n    model: m\n    base_url: https://r.openai.azure.com\n    api_version: 2024-10-21\n")
    assert p.api_version == "2024-10-21"            # unquoted, YAML reads a date: taken as the version


def test_bedrock_region_from_the_field_then_the_environment_then_us_east_1():
    assert one("    kind: bedrock\n    model: m\n").base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    p = one("    kind: bedrock\n    model: m\n", env={"AWS_REGION": "eu-west-3"})
    assert p.region == "eu-west-3" and p.base_url == "https://bedrock-runtime.eu-west-3.amazonaws.com"
    p = one("    kind: bedrock\n    model: m\n    region: ap-south-1\n", env={"AWS_REGION": "eu-west-3"})
    assert p.base_url == "https://bedrock-runtime.ap-south-1.amazonaws.com"


def test_vertex_picks_the_regional_or_global_host():
    p = one("    kind: gemini\n    model: gemini-2.5-flash\n    vertex: {project: my-proj, location: europe-west4}\n")
    assert p.vertex == VertexTarget("my-proj", "europe-west4")
    assert p.base_url == "https://europe-west4-aiplatform.googleapis.com"
    p = one("    kind: gemini\n    model: m\n    vertex: {project: my-proj, location: global}\n")
    assert p.base_url == "https://aiplatform.googleapis.com"
    assert error("providers:\n  - name: p\n    kind: gemini\n    model: m\n    vertex: {location: x}\n"
                 ).field == "providers[0].vertex.project"
    assert "Google Cloud project" in str(error(
        "providers:\n  - name: p\n    kind: gemini\n    model: m\n    vertex: {project: My_Proj}\n"))


@pytest.mark.parametrize("field, kind", [("deployment", "openai"), ("region", "azure"), ("vertex", "anthropic"),
                                         ("auth", "gemini")])
def test_kind_fields_are_refused_on_other_kinds(field, kind):
    e = error(f"providers:\n  - name: p\n    kind: {kind}\n    model: m\n    base_url: http://x\n    {field}: v\n")
    assert e.field == f"providers[0].{field}" and "only applies to kind" in str(e)


def test_api_key_command_is_split_without_a_shell_and_excludes_api_key():
    p = one("    kind: gemini\n    model: m\n    api_key_command: gcloud auth print-access-token --quiet\n")
    assert p.api_key_command == ("gcloud", "auth", "print-access-token", "--quiet")
    p = one("    kind: openai\n    model: m\n    api_key_command: [sh, -c, 'echo $$HOME; rm x']\n")
    assert p.api_key_command == ("sh", "-c", "echo $HOME; rm x")
    assert "not both" in str(error("providers:\n  - name: p\n    kind: openai\n    model: m\n    api_key: k\n"
                                   "    api_key_command: get-key\n"))
    assert error("providers:\n  - name: p\n    kind: openai\n    model: m\n    api_key_command: ''\n"
                 ).field == "providers[0].api_key_command"


def test_env_values_in_headers_and_params_are_redacted_but_not_the_base_url():
    env = {"TOKEN": "tok-from-env-1234567", "HOST": "gpu-box-seventeen", "EXTRA": "param-secret-7654321",
           "DEF": "default-header-secret-99"}
    cfg = parse("defaults:\n  headers: {X-Team: '${DEF}'}\nproviders:\n  - name: p\n    kind: openai\n"
                "    model: m\n    base_url: http://${HOST}:8000/v1\n    headers: {X-Custom: 'Token ${TOKEN}'}\n"
                "    params: {user: '${EXTRA}'}\n", env)
    red = cfg.redactor
    for value in ("tok-from-env-1234567", "param-secret-7654321", "default-header-secret-99"):
        assert red.text(f"[{value}]") == f"[{MASK}]", value
    assert red.text("cannot connect to gpu-box-seventeen:8000") == "cannot connect to gpu-box-seventeen:8000"


def test_price_per_million_tokens():
    from tokenrace.config.models import Price
    p = one("    kind: openai\n    model: m\n    price: {input: 0.15, output: 0.6, cached_input: 0.075}\n")
    assert p.price == Price(0.15, 0.6, 0.075)
    assert one("    kind: openai\n    model: m\n    price: {input: 3, output: 15}\n").price == Price(3.0, 15.0)
    e = error("providers:\n  - name: p\n    kind: openai\n    model: m\n    price: {input: -1, output: 2}\n")
    assert e.field == "providers[0].price.input" and "USD per million tokens" in str(e)
    e = error("providers:\n  - name: p\n    kind: openai\n    model: m\n    price: {input: 1}\n")
    assert e.field == "providers[0].price.output"
