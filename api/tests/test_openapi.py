"""The OpenAPI schema at /api/v1/openapi.json: served, valid OpenAPI 3,
and saying what docs/api.md says."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_the_schema_is_served_and_valid(setup_done, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"get", "post", "delete"} <= set(paths["/api/v1/bans/"])
    assert "/api/v1/bans/export.csv" in paths and "/api/v1/bans/export.json" in paths
    assert "/api/v1/commands/{group}/" in paths
    notifications = paths["/api/v1/notifications/"]["get"]
    assert {p["name"] for p in notifications["parameters"]} == {
        "unread", "kind", "severity", "page", "per_page"}
    assert "deliveries" in schema["components"]["schemas"]["NotificationOut"]["properties"]
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    ban = paths["/api/v1/bans/"]["post"]
    assert {"200", "202", "400", "401", "403", "429"} <= set(ban["responses"])
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "detail"}
