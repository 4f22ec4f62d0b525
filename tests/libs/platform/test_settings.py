import pytest

from libs.platform.settings import SettingsError, load_settings

REQUIRED = {
    "ENVIRONMENT": "production",
    "POSTGRES_PASSWORD": "pw",
    "POSTGRES_HOST": "db",
    "S3_ENDPOINT": "https://s3.example.com",
    "S3_ACCESS_KEY": "access",
    "S3_SECRET_KEY": "secret",
    "REDIS_URL": "redis://redis:6379/0",
}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return caught.value.problems


def test_required_variables_with_guide_defaults():
    settings = load_settings(REQUIRED)
    assert settings.is_production
    assert settings.postgres_user == settings.postgres_db == "course_supporter"
    assert settings.postgres_port == 5432
    assert settings.s3_bucket == "course-materials"
    assert settings.log_level == "INFO"
    assert settings.cors_allowed_origins == ()
    assert settings.cors_allowed_methods == ("GET", "POST")
    assert settings.cors_allowed_headers == ("Content-Type", "X-API-Key", "Idempotency-Key", "If-Match")
    assert settings.max_upload_bytes == 5 * 1024**3
    assert settings.ports["gateway"] == 8080


def test_every_missing_variable_is_named_at_once():
    found = problems({})
    assert found == [f"{name}: missing (required)" for name in REQUIRED]


def test_malformed_values_are_named_one_line_each():
    env = {
        **REQUIRED,
        "POSTGRES_PORT": "five",
        "CORS_ALLOWED_ORIGINS": "https://a.example",
        "CORS_ALLOW_CREDENTIALS": "maybe",
        "ENVIRONMENT": "staging",
        "S3_ENDPOINT": "s3.example.com",
        "MAX_UPLOAD_BYTES": "0",
        "LOG_LEVEL": "LOUD",
        "AUTH_PORT": "70000",
    }
    found = problems(env)
    assert len(found) == 8
    assert any(p.startswith("POSTGRES_PORT: must be a whole number") for p in found)
    assert any(p.startswith("CORS_ALLOWED_ORIGINS: must be a JSON list") for p in found)
    assert any(p.startswith("CORS_ALLOW_CREDENTIALS: must be true or false") for p in found)
    assert any(p.startswith("ENVIRONMENT: must be one of development, test, production") for p in found)
    assert any(p.startswith("S3_ENDPOINT: must be a http or https URL") for p in found)
    assert any(p.startswith("MAX_UPLOAD_BYTES: must be between") for p in found)
    assert any(p.startswith("LOG_LEVEL: must be one of") for p in found)
    assert any(p.startswith("AUTH_PORT: must be between 1 and 65535") for p in found)


def test_cors_lists_must_hold_only_strings():
    assert problems({**REQUIRED, "CORS_ALLOWED_METHODS": "[1, 2]"})[0].startswith("CORS_ALLOWED_METHODS")


def test_cors_lists_parse_from_json():
    settings = load_settings(
        {**REQUIRED, "CORS_ALLOWED_ORIGINS": '["https://pythoncourse.me"]', "CORS_ALLOW_CREDENTIALS": "true"}
    )
    assert settings.cors_allowed_origins == ("https://pythoncourse.me",)
    assert settings.cors_allow_credentials is True


def test_secret_values_are_never_echoed():
    found = problems({**REQUIRED, "POSTGRES_PASSWORD": " "})
    assert found == ["POSTGRES_PASSWORD: must not be empty (got a hidden value)"]


def test_conninfo_quotes_special_characters_in_credentials():
    settings = load_settings({**REQUIRED, "POSTGRES_PASSWORD": "p@ss/w:rd"})
    assert "p%40ss%2Fw%3Ard@db:5432/course_supporter" in settings.postgres_conninfo


def test_a_wildcard_origin_with_credentials_is_refused_at_start_up():
    found = problems({**REQUIRED, "CORS_ALLOWED_ORIGINS": '["*"]', "CORS_ALLOW_CREDENTIALS": "true"})
    assert found == ["CORS_ALLOWED_ORIGINS: must list origins, not '*', while CORS_ALLOW_CREDENTIALS is true"]


def test_a_wildcard_origin_without_credentials_is_allowed():
    settings = load_settings({**REQUIRED, "CORS_ALLOWED_ORIGINS": '["*"]', "CORS_ALLOW_CREDENTIALS": "false"})
    assert settings.cors_allowed_origins == ("*",)


def test_the_json_body_cap_defaults_to_one_mebibyte_and_is_bounded():
    assert load_settings(REQUIRED).max_json_bytes == 1024**2
    assert problems({**REQUIRED, "MAX_JSON_BYTES": "10"}) == [
        "MAX_JSON_BYTES: must be between 1024 and 67108864 (got '10')"
    ]


def test_llm_provider_variables_parse_with_their_defaults():
    assert load_settings(REQUIRED).llm_timeout_seconds == 120
    assert load_settings(REQUIRED).anthropic_base_url is None
    settings = load_settings(
        {
            **REQUIRED,
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9000/",
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
            "OPENAI_MODEL": "llama3.1:8b",
            "OPENAI_EMBEDDING_MODEL": "nomic-embed-text",
            "LLM_TIMEOUT_SECONDS": "30",
            "LLM_MAX_ATTEMPTS": "2",
        }
    )
    assert settings.anthropic_base_url == "http://127.0.0.1:9000"
    assert settings.openai_model == "llama3.1:8b"
    assert settings.openai_embedding_model == "nomic-embed-text"
    assert (settings.llm_timeout_seconds, settings.llm_max_attempts) == (30, 2)


def test_malformed_llm_variables_are_named():
    found = problems({**REQUIRED, "ANTHROPIC_BASE_URL": "localhost:9000", "LLM_TIMEOUT_SECONDS": "0"})
    assert len(found) == 2
    assert found[0].startswith("ANTHROPIC_BASE_URL: must be a http or https URL")
    assert found[1].startswith("LLM_TIMEOUT_SECONDS: must be between 1 and 3600")


def test_passed_overrides_take_only_the_passed_variables_that_are_set():
    from libs.platform.settings import passed_overrides

    environ = {"OPENAI_API_KEY": "sk-typed", "GEMINI_API_KEY": "", "POSTGRES_PASSWORD": "pw", "PATH": "/bin"}
    assert passed_overrides(environ) == {"OPENAI_API_KEY": "sk-typed"}
