from libs.access.apikeys import generate_key
from services.auth import tenants


def me(client, key: str | None):
    return client.simulate_get("/api/v1/auth/me", headers={"X-API-Key": key} if key else {})


def test_me_describes_the_calling_key(client, tenant):
    key = tenant.make_key(("prep",), rate_prep=7, rate_check=9)
    result = me(client, key.secret)
    assert result.status_code == 200
    assert result.json["tenant"]["name"] == tenant.name
    assert result.json["key"]["prefix"] == key.prefix
    assert result.json["key"]["scopes"] == ["prep"]
    assert result.json["rate_limits"] == {"prep_per_minute": 7, "check_per_minute": 9}
    assert key.secret not in result.text


def test_missing_key_is_401(client):
    result = me(client, None)
    assert result.status_code == 401
    assert result.json["title"] == "Unauthorized"
    assert "X-API-Key" in result.json["description"]


def test_unknown_key_is_401(client):
    assert me(client, generate_key().secret).status_code == 401


def test_malformed_key_is_401(client):
    assert me(client, "cs_live_' OR 1=1 --").status_code == 401


def test_revoked_key_is_401(client, tenant, db, redis_client):
    key = tenant.make_key()
    assert me(client, key.secret).status_code == 200
    tenants.revoke_key(db, redis_client, key.prefix)  # the services are told at once
    result = me(client, key.secret)
    assert result.status_code == 401
    assert "revoked" in result.json["description"]


def test_expired_key_is_401(client, tenant, db):
    key = tenant.make_key(expires_in_days=1)
    db.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_prefix = %s", (key.prefix,))
    result = me(client, key.secret)
    assert result.status_code == 401
    assert "expired" in result.json["description"]


def test_key_of_a_deactivated_tenant_is_401(client, tenant, db, redis_client):
    keys = [tenant.make_key(), tenant.make_key(("check",))]
    for key in keys:
        assert me(client, key.secret).status_code == 200  # now cached
    tenants.deactivate_tenant(db, redis_client, tenant.name)
    for key in keys:
        result = me(client, key.secret)
        assert result.status_code == 401
        assert "deactivated" in result.json["description"]
