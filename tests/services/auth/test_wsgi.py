import subprocess
import sys


def test_service_refuses_to_start_naming_each_bad_variable(stack):
    env = {**stack.service_env(), "ENVIRONMENT": "staging", "POSTGRES_PORT": "x"}
    env.pop("POSTGRES_PASSWORD")
    result = subprocess.run(
        [sys.executable, "-c", "import services.auth.wsgi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ENVIRONMENT: must be one of development, test, production" in result.stderr
    assert "POSTGRES_PASSWORD: missing (required)" in result.stderr
    assert "POSTGRES_PORT: must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr
