import pytest

pytestmark = pytest.mark.django_db


def test_schema_describes_bearer_auth_and_the_auth_endpoints(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    paths = schema["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/me"):
        assert path in paths
    assert {"jwtAuth": []} in paths["/api/v1/users"]["get"]["security"]
    assert {"jwtAuth": []} not in paths["/api/v1/auth/login"]["post"].get("security", [])
