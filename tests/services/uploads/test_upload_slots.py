"""Upload slots in Redis: the cap, leases that lapse when their holder is gone, renewal while
held, and failing open without Redis."""

import time
import uuid

import pytest
import redis

from libs.platform.redis_client import create_redis
from services.uploads.upload_slots import TooManyUploads, UploadSlots


@pytest.fixture
def tenant_id() -> str:
    return str(uuid.uuid4())


def test_the_cap_refuses_the_extra_upload_until_one_ends(redis_client, tenant_id):
    slots = UploadSlots(redis_client, per_tenant=2)
    with slots.hold(tenant_id), slots.hold(tenant_id):
        with pytest.raises(TooManyUploads) as refused, slots.hold(tenant_id):
            pass
        assert refused.value.retry_after >= 1
        with slots.hold(str(uuid.uuid4())):  # another tenant
            pass
    with slots.hold(tenant_id):
        assert redis_client.zcard(UploadSlots.key(tenant_id)) == 1
    assert redis_client.zcard(UploadSlots.key(tenant_id)) == 0


def redis_now_ms(client: redis.Redis) -> int:
    """Redis' clock in milliseconds: the one the leases are scored in."""
    seconds, microseconds = client.time()
    return seconds * 1000 + microseconds // 1000


def test_a_crashed_workers_slot_lapses_after_its_lease(redis_client, tenant_id):
    slots = UploadSlots(redis_client, per_tenant=1)
    key = UploadSlots.key(tenant_id)
    # what a worker that died mid-upload leaves: a lease nobody renews or removes
    redis_client.zadd(key, {"dead-worker-upload": redis_now_ms(redis_client) + 60_000})
    with pytest.raises(TooManyUploads), slots.hold(tenant_id):
        pass
    # its lease runs out (moved into the past rather than waited for)
    assert redis_client.zadd(key, {"dead-worker-upload": redis_now_ms(redis_client) - 1}, xx=True) == 0
    with slots.hold(tenant_id):
        assert redis_client.zscore(key, "dead-worker-upload") is None


def test_a_held_slot_is_renewed_past_its_lease(redis_client, tenant_id):
    # renewed every lease third (1 s): 2 s of slack for a loaded machine
    slots = UploadSlots(redis_client, per_tenant=1, lease_seconds=3)
    other_worker = UploadSlots(redis_client, per_tenant=1, lease_seconds=3)
    with slots.hold(tenant_id):
        (first_expiry,) = redis_client.zrange(UploadSlots.key(tenant_id), 0, -1, withscores=True)
        time.sleep(4)  # a slow body: longer than the lease
        with pytest.raises(TooManyUploads), other_worker.hold(tenant_id):
            pass
        (expiry,) = redis_client.zrange(UploadSlots.key(tenant_id), 0, -1, withscores=True)
        assert expiry[0] == first_expiry[0] and expiry[1] > first_expiry[1]


def test_without_redis_uploads_go_on_uncapped(tenant_id):
    unreachable = create_redis("redis://127.0.0.1:1/0", timeout=0.2)
    slots = UploadSlots(unreachable, per_tenant=1)
    with slots.hold(tenant_id), slots.hold(tenant_id):
        pass
    with pytest.raises(redis.RedisError):
        unreachable.ping()
