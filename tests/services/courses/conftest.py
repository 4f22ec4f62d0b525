import falcon.testing
import pytest

from services.courses.app import create_app


@pytest.fixture
def client(settings, pool, redis_client, storage):
    return falcon.testing.TestClient(create_app(settings, pool=pool, redis_client=redis_client, storage=storage))


@pytest.fixture
def prep(tenant) -> dict[str, str]:
    """Headers of a prep+check key of a fresh tenant."""
    return {"X-API-Key": tenant.make_key().secret}


@pytest.fixture
def course(client, prep) -> dict:
    return client.simulate_post("/api/v1/courses", json={"title": "Python 101"}, headers=prep).json
