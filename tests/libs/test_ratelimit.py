import logging
import multiprocessing
import time
import uuid

import redis

from devstack.processes import free_port
from libs.ratelimit import RateLimiter
from libs.redis_client import create_redis


def _spend(redis_url: str, bucket_tenant: str, attempts: int, start_at: float, results) -> None:
    limiter = RateLimiter(redis.Redis.from_url(redis_url))
    while time.time() < start_at:  # both processes fire together
        time.sleep(0.001)
    results.put(sum(limiter.hit(bucket_tenant, "check", 50).allowed for _ in range(attempts)))


def test_two_processes_share_one_bucket_exactly(settings):
    tenant = uuid.uuid4().hex
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 1.5
    workers = [
        context.Process(target=_spend, args=(settings.redis_url, tenant, 40, start_at, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    allowed = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    # 80 attempts within well under a second: the 50-token burst, plus at most the
    # refill of that short window (50/min ≈ 0.83 tokens/s).
    assert 50 <= sum(allowed) <= 51


def test_a_refused_hit_says_when_to_retry_in_whole_seconds(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    assert [limiter.hit(tenant, "prep", 2).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.hit(tenant, "prep", 2)
    assert not refused.allowed
    assert 1 <= refused.retry_after <= 30  # 2/min: one token every 30 s


def test_bucket_refills_continuously(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    while limiter.hit(tenant, "check", 600).allowed:  # 10 tokens per second
        pass
    time.sleep(0.35)
    refilled = sum(limiter.hit(tenant, "check", 600).allowed for _ in range(10))
    assert 2 <= refilled <= 5


def test_buckets_are_per_tenant_and_per_scope(redis_client):
    limiter = RateLimiter(redis_client)
    tenant, other = uuid.uuid4().hex, uuid.uuid4().hex
    assert limiter.hit(tenant, "prep", 1).allowed
    assert not limiter.hit(tenant, "prep", 1).allowed
    assert limiter.hit(tenant, "check", 1).allowed
    assert limiter.hit(other, "prep", 1).allowed


def test_limiter_fails_open_and_logs_when_redis_is_unreachable(caplog):
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RateLimiter(dead)
    with caplog.at_level(logging.ERROR, logger="libs.ratelimit"):
        decisions = [limiter.hit("t", "prep", 1) for _ in range(3)]
    assert all(decision.allowed for decision in decisions)
    assert "rate limiter unavailable" in caplog.text
