"""Cached API keys: revocation still takes effect at once, through the Redis epoch."""

import time
from datetime import UTC, datetime, timedelta

import falcon.testing

from devstack.processes import free_port
from libs.auth import Principal
from libs.keycache import KeyCache, invalidate_cached_keys
from libs.redis_client import create_redis
from services.auth import tenants
from services.auth.app import create_app


def me(client, key: str) -> int:
    return client.simulate_get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code


def test_a_cached_key_is_served_without_asking_the_database_again(client, tenant, db):
    key = tenant.make_key()
    assert me(client, key.secret) == 200
    # a change the services were not told about: the cache still answers for the key …
    db.execute("UPDATE api_keys SET revoked_at = now() WHERE key_prefix = %s", (key.prefix,))
    assert me(client, key.secret) == 200


def test_a_new_epoch_makes_a_revocation_take_effect_at_once(client, tenant, db, redis_client):
    key = tenant.make_key()
    assert me(client, key.secret) == 200
    tenants.revoke_key(db, key.prefix)
    invalidate_cached_keys(redis_client)
    assert me(client, key.secret) == 401


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


def principal(expires_at: str | None = None) -> Principal:
    return Principal(
        "t", "T", "k", "cs_live_000000000000", "x", frozenset({"prep"}), {"prep": 1, "check": 1}, expires_at
    )


def test_entries_expire_after_their_ttl(redis_client):
    cache = KeyCache(redis_client, ttl=0.2)
    cache.put("digest", principal(), "epoch")
    assert cache.get("digest") is not None
    time.sleep(0.25)
    assert cache.get("digest") is None


def test_a_key_past_its_expiry_is_not_served_from_the_cache(redis_client):
    cache = KeyCache(redis_client)
    cache.put("digest", principal((datetime.now(UTC) + timedelta(milliseconds=200)).isoformat()), "epoch")
    assert cache.get("digest") is not None
    time.sleep(0.25)
    assert cache.get("digest") is None
