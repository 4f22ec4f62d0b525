"""Cached API keys: revocation and scope changes still take effect at once, through the
Redis epoch checked in the same round trip as the rate-limit token."""

from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

from devstack.processes import free_port
from libs.access.auth import Principal
from libs.access.keycache import KeyCache, invalidate_cached_keys
from libs.access.scopes import CHECK_ONLY
from libs.http.app import build_app
from libs.http.routing import Route
from libs.platform.redis_client import create_redis
from services.auth import tenants
from services.auth.app import create_app


def me(client, key: str) -> int:
    return client.simulate_get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code


class Echo:
    def on_get(self, req, resp):
        resp.media = {"tenant": req.context.principal.tenant_name}


@pytest.fixture
def check_only_client(settings, pool, redis_client, storage):
    routes = [Route("/check-only", Echo(), {"GET": CHECK_ONLY})]
    return falcon.testing.TestClient(
        build_app(settings, routes=routes, pool=pool, redis_client=redis_client, storage=storage)
    )


def test_a_cached_key_is_served_without_asking_the_database_again(client, tenant, db):
    key = tenant.make_key()
    assert me(client, key.secret) == 200
    # a change the services were not told about: the cache still answers for the key …
    db.execute("UPDATE api_keys SET revoked_at = now() WHERE key_prefix = %s", (key.prefix,))
    assert me(client, key.secret) == 200


def test_a_new_epoch_makes_a_revocation_take_effect_at_once(client, tenant, db, redis_client):
    key = tenant.make_key()
    assert me(client, key.secret) == 200
    tenants.revoke_key(db, redis_client, key.prefix)
    assert me(client, key.secret) == 401


def test_a_revoked_key_with_a_stale_entry_spends_no_token_of_its_tenant(client, tenant, db, redis_client):
    key = tenant.make_key(("check",), rate_check=2)
    first = client.simulate_get("/api/v1/auth/me", headers={"X-API-Key": key.secret})
    assert first.status_code == 200
    bucket = f"ratelimit:{first.json['tenant']['id']}:check"
    before = redis_client.hgetall(bucket)
    assert before  # the first request did spend from this bucket
    tenants.revoke_key(db, redis_client, key.prefix)
    assert me(client, key.secret) == 401
    # untouched, not even refilled: the script returned before reading the bucket
    assert redis_client.hgetall(bucket) == before


def test_narrowed_scopes_are_403_on_the_first_request_after_a_new_epoch(check_only_client, tenant, db, redis_client):
    key = tenant.make_key(("prep", "check"))
    headers = {"X-API-Key": key.secret}
    assert check_only_client.simulate_get("/check-only", headers=headers).status_code == 200
    db.execute("UPDATE api_keys SET scopes = '{prep}' WHERE key_prefix = %s", (key.prefix,))
    invalidate_cached_keys(redis_client)
    assert check_only_client.simulate_get("/check-only", headers=headers).status_code == 403


def test_widened_scopes_are_served_on_the_first_request_after_a_new_epoch(check_only_client, tenant, db, redis_client):
    key = tenant.make_key(("prep",))
    headers = {"X-API-Key": key.secret}
    assert check_only_client.simulate_get("/check-only", headers=headers).status_code == 403
    db.execute("UPDATE api_keys SET scopes = '{prep,check}' WHERE key_prefix = %s", (key.prefix,))
    assert check_only_client.simulate_get("/check-only", headers=headers).status_code == 403  # cached, same epoch
    invalidate_cached_keys(redis_client)
    assert check_only_client.simulate_get("/check-only", headers=headers).status_code == 200


def test_revocation_through_the_cli_takes_effect_at_once(client, tenant, stack):
    from services.auth.cli import main

    key = tenant.make_key()
    assert me(client, key.secret) == 200
    assert main(["revoke-key", "--prefix", key.prefix], environ=stack.env) == 0
    assert me(client, key.secret) == 401


def test_without_redis_nothing_is_cached(settings, pool, storage, tenant, db):
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    client = falcon.testing.TestClient(create_app(settings, pool=pool, redis_client=dead, storage=storage))
    key = tenant.make_key()
    assert me(client, key.secret) == 200
    db.execute("UPDATE api_keys SET revoked_at = now() WHERE key_prefix = %s", (key.prefix,))
    assert me(client, key.secret) == 401


def test_a_cached_key_is_not_trusted_once_redis_goes_away(settings, pool, storage, tenant, db):
    flaky = create_redis(settings.redis_url)
    client = falcon.testing.TestClient(create_app(settings, pool=pool, redis_client=flaky, storage=storage))
    key = tenant.make_key()
    assert me(client, key.secret) == 200  # cached, under the epoch Redis vouched for
    # Redis goes away (the app's client now talks to a port nobody listens on), and the key is
    # revoked meanwhile: with no epoch to check, the database decides
    flaky.connection_pool = create_redis(f"redis://127.0.0.1:{free_port()}/0").connection_pool
    db.execute("UPDATE api_keys SET revoked_at = now() WHERE key_prefix = %s", (key.prefix,))
    assert me(client, key.secret) == 401


def principal(expires_at: str | None = None) -> Principal:
    return Principal(
        "t", "T", "k", "cs_live_000000000000", "x", frozenset({"prep"}), {"prep": 1, "check": 1}, expires_at
    )


def test_entries_expire_after_their_ttl(redis_client):
    now = [100.0]
    cache = KeyCache(redis_client, ttl=30.0, clock=lambda: now[0])
    cache.put("digest", principal(), "epoch")
    now[0] += 29.9
    assert cache.get("digest") is not None
    now[0] += 0.1
    assert cache.get("digest") is None


def test_a_key_past_its_expiry_is_not_served_from_the_cache(redis_client):
    cache = KeyCache(redis_client)
    cache.put("valid", principal((datetime.now(UTC) + timedelta(hours=1)).isoformat()), "epoch")
    cache.put("expired", principal((datetime.now(UTC) - timedelta(seconds=1)).isoformat()), "epoch")
    assert cache.get("valid") is not None
    assert cache.get("expired") is None


def test_a_full_cache_evicts_the_least_recently_used_entry(redis_client):
    cache = KeyCache(redis_client, capacity=3)
    for digest in ("a", "b", "c"):
        cache.put(digest, principal(), "epoch")
    assert cache.get("a") is not None  # a is now the most recently used; b the least
    cache.put("d", principal(), "epoch")
    assert cache.get("b") is None
    assert all(cache.get(digest) is not None for digest in ("a", "c", "d"))


def test_putting_a_cached_key_again_does_not_evict_another(redis_client):
    cache = KeyCache(redis_client, capacity=2)
    cache.put("a", principal(), "old")
    cache.put("b", principal(), "epoch")
    cache.put("a", principal(), "new")
    assert cache.get("a").epoch == "new" and cache.get("b") is not None
