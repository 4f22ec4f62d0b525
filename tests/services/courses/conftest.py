import pytest


@pytest.fixture
def prep(tenant) -> dict[str, str]:
    """Headers of a prep+check key of a fresh tenant."""
    return {"X-API-Key": tenant.make_key().secret}


@pytest.fixture
def course(client, prep) -> dict:
    return client.simulate_post("/api/v1/courses", json={"title": "Python 101"}, headers=prep).json
