"""One real stack per test session: PostgreSQL + pgvector, Redis, SeaweedFS S3, the
services under gunicorn and the nginx gateway, on free ports in a temporary directory."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import psycopg
import pytest
import redis
from psycopg_pool import ConnectionPool

from devstack.stack import Ports, Stack, default_environment
from libs.access.apikeys import NewKey
from libs.platform.db import create_pool
from libs.platform.redis_client import create_redis
from libs.platform.settings import Settings, load_settings
from libs.platform.storage import Storage, create_storage
from libs.store import materials
from services.auth import tenants
from services.uploads import intake
from tests.fakes import course_model as fakes
from tests.fakes.openai_server import FakeOpenAI

UPLOAD_LIMIT = 24 * 1024 * 1024


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the stack (the ``stack`` fixture, directly or through
    another), so ``make test-fast`` (``-m "not stack"``) runs the rest in seconds."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def course_model() -> Iterator[FakeOpenAI]:
    """The OpenAI-compatible server the stack's agent talks to (see tests/fakes/course_model.py)."""
    with fakes.course_model() as server:
        yield server


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, course_model: FakeOpenAI) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("stack")
    env = {
        **default_environment(Ports.free(), environment="test"),
        # a small upload limit, so the limit's tests need not move a gigabyte
        "MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        # a local OpenAI-compatible server: no key, the model it serves named
        "OPENAI_BASE_URL": course_model.base_url,
        "OPENAI_MODEL": fakes.MODEL,
        "OPENAI_EMBEDDING_MODEL": fakes.EMBEDDING_MODEL,
        # webhooks to the tests' own receivers on 127.0.0.1 may be registered; the tests send
        # the deliveries themselves, each with the sender it is about (a private receiver's
        # CA, a resolver answering a private address), so the stack's worker sends none
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_SENDERS": "0",
    }
    instance = Stack(root, env, persistent=False)
    try:
        instance.up()
        yield instance
    finally:
        instance.down()


@pytest.fixture
def faults(stack: Stack) -> Iterator[Stack]:
    """The shared stack, for a test that stops or freezes part of it. Afterwards, whatever the
    test did or failed to undo, every part runs again and the whole stack answers before the
    next test starts: one failure cannot fail the tests after it."""
    yield stack
    stack.restore()
    stack.wait_whole()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return load_settings(stack.env)


@pytest.fixture(scope="session")
def pool(settings: Settings) -> Iterator[ConnectionPool]:
    instance = create_pool(settings, name="tests", max_size=10)
    instance.open(wait=True, timeout=30)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> redis.Redis:
    return create_redis(settings.redis_url)


@pytest.fixture(scope="session")
def storage(settings: Settings) -> Storage:
    return create_storage(settings)


@pytest.fixture
def db(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        yield conn


@dataclass(frozen=True)
class Tenant:
    name: str
    id: str
    make_key: Callable[..., NewKey]


def new_tenant(db: psycopg.Connection) -> Tenant:
    """A fresh tenant (unique name, so tests never share rate buckets or rows)."""
    name = f"tenant-{uuid.uuid4().hex[:10]}"
    tenant_id = tenants.create_tenant(db, name)

    def make_key(
        scopes: tuple[str, ...] = ("prep", "check"),
        *,
        rate_prep: int = 1000,
        rate_check: int = 1000,
        expires_in_days: int | None = None,
    ) -> NewKey:
        return tenants.create_key(
            db,
            tenant=name,
            scopes=scopes,
            label="test",
            rate_prep=rate_prep,
            rate_check=rate_check,
            expires_in_days=expires_in_days,
        )

    return Tenant(name, tenant_id, make_key)


@pytest.fixture
def tenant(db: psycopg.Connection) -> Tenant:
    return new_tenant(db)


@pytest.fixture
def other_tenant(db: psycopg.Connection) -> Tenant:
    """A second tenant, for isolation tests."""
    return new_tenant(db)


ClientFactory = Callable[..., falcon.testing.TestClient]


@pytest.fixture
def make_client(settings, pool, redis_client, storage) -> ClientFactory:
    """``make_client("courses")``: a falcon TestClient of that service's app on the session's
    real dependencies; keyword arguments replace any of them (``settings=…``, ``storage=…``)."""

    def make(service: str, **overrides: object) -> falcon.testing.TestClient:
        deps = {"settings": settings, "pool": pool, "redis_client": redis_client, "storage": storage, **overrides}
        create_app = importlib.import_module(f"services.{service}.app").create_app
        return falcon.testing.TestClient(create_app(deps.pop("settings"), **deps))

    return make


@pytest.fixture
def client(request: pytest.FixtureRequest, make_client: ClientFactory) -> falcon.testing.TestClient:
    """The app of the service whose tests these are (``tests/services/<name>/…``); the auth
    service elsewhere, since every app shares its middleware."""
    parts = Path(request.node.path).relative_to(Path(__file__).parent).parts
    service = parts[1] if parts[0] == "services" else "auth"
    return make_client(service)


def hold_job(db: psycopg.Connection, job_id: str) -> None:
    """Mark a job as run by "a test worker", so the stack's real worker leaves it alone."""
    db.execute(
        "UPDATE jobs SET status = 'running', locked_by = 'tests', lease_expires_at = now() + interval '1 hour'"
        " WHERE id = %s",
        (job_id,),
    )


def held_material(db: psycopg.Connection, tenant_id: str, course_id: str, *, status: str = "pending") -> str:
    """A web material of the course in ``status`` whose ingestion job a test holds (the
    stack's worker would otherwise fetch its URL and move its status)."""
    with db.transaction():
        row = intake.create_with_job(
            db,
            tenant_id,
            material_id=str(uuid.uuid4()),
            course_id=course_id,
            source_type="web",
            # never fetched while held; if a test lets the worker have it (a retry), refused at once
            source_url="https://127.0.0.1/held",
            filename=None,
            content_type=None,
            size=None,
            key=None,
        )
        hold_job(db, row["job_id"])
        if status != "pending":
            materials.set_status(db, tenant_id, str(row["id"]), status)
    return str(row["id"])
