import pytest


@pytest.fixture
def course(client, prep) -> dict:
    return client.simulate_post("/api/v1/courses", json={"title": "Python 101"}, headers=prep).json
