"""The published contract: the OpenAPI 3.1 schema at /api/schema, Swagger UI at /api/docs and
ReDoc at /api/redoc, served from our own files.

The schema's agreement with what the API answers is schemathesis's job (``test_schemathesis.py``).
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator

from upscaler_site.openapi import TAGS

pytestmark = pytest.mark.django_db

DOCS = ("/api/schema", "/api/docs", "/api/redoc")


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def api_routes() -> set[str]:
    """Every URL under /api/ in the URLconf, as OpenAPI writes paths (``{id}``)."""
    found: set[str] = set()

    def walk(patterns, prefix: str = "") -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/"):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("{pk}", "{id}"))

    walk(get_resolver().url_patterns)
    return found - set(DOCS)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_schema_is_valid_openapi_3_1_in_json_and_yaml(schema):
    validate_schema(schema)
    assert schema["openapi"] == "3.1.0"
    response = Client().get("/api/schema")
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content) == schema


def test_every_api_url_is_in_the_schema_and_nothing_else(schema):
    assert set(schema["paths"]) == api_routes()


def test_every_operation_is_described_tagged_and_answers_envelopes(schema):
    envelopes = {"success", "message"}
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("summary") and operation.get("description"), where
        assert operation["tags"][0] in TAGS.values(), where
        assert "429" in operation["responses"], where
        assert "Retry-After" in operation["responses"]["429"]["headers"], where
        for code, response in operation["responses"].items():
            content = response["content"]
            if "application/json" not in content:
                assert code == "200" and "application/zip" in content, where
                continue
            ref = content["application/json"]["schema"]["$ref"].split("/")[-1]
            component = schema["components"]["schemas"][ref]
            assert envelopes <= set(component["required"]), (where, code)
            assert (ref == "Error") == code.startswith(("4", "5")), (where, code)


def test_the_errors_and_auth_schemes_are_documented(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"success", "message", "errors"}
    assert error["properties"]["success"]["const"] is False
    schemes = schema["components"]["securitySchemes"]
    assert (schemes["bearerAuth"]["type"], schemes["bearerAuth"]["scheme"]) == ("http", "bearer")
    assert (schemes["tokenAuth"]["type"], schemes["tokenAuth"]["in"]) == ("apiKey", "header")
    upload = schema["paths"]["/api/images/upscale"]["post"]
    assert {"bearerAuth": []} in upload["security"] and {"tokenAuth": []} in upload["security"]
    assert schema["paths"]["/api/auth/login"]["post"]["security"] == [{}]
    for code in ("202", "401", "403", "413", "422", "429"):
        assert code in upload["responses"], code
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(upload["responses"]["202"]["headers"])


def test_the_documented_fields_are_in_the_components(schema):
    """The names clients written from the upscaling API's page read."""
    components = schema["components"]["schemas"]

    def fields(name: str) -> set[str]:
        return set(components[name]["properties"])

    assert {"id", "name", "email", "email_verified_at", "profile_photo_url", "created_at", "updated_at",
            "pricing_plan"} <= fields("Profile")  # fmt: skip
    assert {"id", "original_filename", "original_path", "upscaled_path", "original_size", "upscaled_size",
            "original_size_human", "upscaled_size_human", "original_dimensions", "upscaled_dimensions",
            "original_dimensions_formatted", "upscaled_dimensions_formatted", "status", "scale_factor",
            "target_width", "target_height", "processing_time", "api_request", "download_url", "created_at",
            "updated_at"} <= fields("Image")  # fmt: skip
    assert {"id", "name", "status", "total_images", "completed_images", "failed_images", "scale_factor",
            "progress", "images", "created_at", "updated_at", "completed_at"} <= fields("Batch")  # fmt: skip
    assert {"plan", "image_uploads", "features"} <= fields("Usage")
    assert {"subscription", "plan"} <= fields("SubscriptionDetails")
    assert {"name", "slug", "price", "features", "limits"} <= fields("Plan")
    assert {"id", "name", "abilities", "last_used_at", "created_at"} <= fields("Token")
    assert components["ImageStatusEnum"]["enum"] == ["pending", "processing", "completed", "failed", "expired"]
    assert components["Image"]["properties"]["id"]["format"] == "uuid"
    assert components["Image"]["properties"]["target_width"]["type"] == ["integer", "null"]
    upload = components["UpscaleRequest"]["properties"]
    assert (upload["image"]["type"], upload["image"]["format"]) == ("string", "binary")
    assert upload["target_width"]["maximum"] == 16384


def test_the_examples_are_the_pages_and_valid_against_their_schemas(schema):
    """Each response example (the documented page's values, in our shapes) is what the schema
    it illustrates allows, so the reference shows nothing a client will not get."""
    checked = set()
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                for name, example in media.get("examples", {}).items():
                    validator = Draft202012Validator({**media["schema"], "components": schema["components"]})
                    errors = [e.message for e in validator.iter_errors(example["value"])]
                    assert not errors, (method, path, code, name, errors[:3])
                    checked.add(f"{method.upper()} {path} {code}")
    assert {"POST /api/images/upscale 202", "POST /api/images/upscale 422", "GET /api/images/{id} 200",
            "GET /api/images 200", "GET /api/images/{id}/download 200", "POST /api/batches 202",
            "POST /api/auth/register 201", "POST /api/auth/login 200", "GET /api/user 200", "GET /api/usage 200",
            "GET /api/subscription 200", "GET /api/user/tokens 200"} <= checked  # fmt: skip


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_the_reference_pages_load_only_our_own_files(client, settings, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "a page loads something from another host"
    for asset in re.findall(r"(?:src|href)=\"([^\"]+)\"", page):
        if asset.startswith(path):  # Swagger UI's settings: tested below
            continue
        assert asset.startswith(settings.STATIC_URL) and finders.find(asset.removeprefix(settings.STATIC_URL)), asset


def test_swagger_ui_gets_its_settings_from_a_script_not_inline(client):
    page = client.get("/api/docs").content.decode()
    assert "<script>" not in page and "<style>" not in page
    script = client.get("/api/docs?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema" in script.content.decode()
    policy = client.get("/api/docs")["Content-Security-Policy"]
    assert "unsafe-inline" not in policy


def test_redoc_alone_may_use_inline_styles(client):
    policy = client.get("/api/redoc")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self'" in policy
    assert "worker-src 'self' blob:" in policy


def test_reading_the_docs_is_not_counted_against_the_anonymous_limit(client, settings):
    settings.ANON_REQUESTS_PER_HOUR = 2
    for _ in range(4):
        for path in DOCS:
            assert client.get(path).status_code == 200, path
    assert [client.get("/api/user").status_code for _ in range(3)] == [401, 401, 429]
