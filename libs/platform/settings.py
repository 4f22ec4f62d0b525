"""Settings built once from the environment and validated as a whole.

Only entry points (``wsgi.py``, CLIs) call :func:`load_settings`; everything else receives
the resulting :class:`Settings` as an argument.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(Exception):
    """Raised with one line per missing or malformed variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


# the largest material file by default, streamed or uploaded straight to S3 (S3's own limit
# for one object's PUT)
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Settings:
    environment: str
    postgres_password: str
    postgres_host: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    redis_url: str
    log_level: str = "INFO"
    cors_allowed_origins: tuple[str, ...] = ()
    cors_allow_credentials: bool = False
    cors_allowed_methods: tuple[str, ...] = ("GET", "POST")
    cors_allowed_headers: tuple[str, ...] = ("Content-Type", "X-API-Key", "Idempotency-Key", "If-Match")
    postgres_user: str = "course_supporter"
    postgres_db: str = "course_supporter"
    postgres_port: int = 5432
    s3_bucket: str = "course-materials"
    # the S3 endpoint clients see, which direct-upload URLs are signed for (None: s3_endpoint)
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # how long a service's request waits for one S3 answer (workers wait longer)
    s3_request_timeout_seconds: int = 4
    gemini_api_key: str | None = None
    anthropic_api_key: str | None = None
    openai_api_key: str | None = None
    deepseek_api_key: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_concurrent_uploads_per_tenant: int = 4
    storage_quota_bytes: int = 0  # per tenant, unless the admin CLI set its own; 0: unlimited
    max_json_bytes: int = 1024**2
    openai_base_url: str | None = None
    # LLM layer (libs/llm): a non-OpenAI server at OPENAI_BASE_URL serves OPENAI_MODEL (and
    # OPENAI_EMBEDDING_MODEL), put first in every action's default chain
    anthropic_base_url: str | None = None
    openai_model: str | None = None
    openai_embedding_model: str | None = None
    llm_timeout_seconds: int = 120
    llm_max_attempts: int = 3
    # a tenant's LLM spend per calendar month (UTC) unless the admin CLI set its own, and the
    # estimated cost one structure run may have; 0: no limit
    llm_monthly_budget_usd: Decimal = Decimal(0)
    llm_run_limit_usd: Decimal = Decimal(10)
    # speech to text through an OpenAI-compatible /audio/transcriptions endpoint
    transcription_model: str = "whisper-1"
    transcription_max_bytes: int = 24 * 1024**2  # OpenAI refuses files over 25 MB
    # fetching a web material's source_url
    web_max_bytes: int = 5 * 1024**2
    web_timeout_seconds: int = 15
    # how long POST …/submissions waits for its grade before answering 202 with a job
    grading_wait_seconds: int = 20
    # jobs one agent worker process runs side by side
    worker_concurrency: int = 2
    # webhooks: plain HTTP and private addresses allowed (local receivers, tests; never in
    # production), the CA bundle deliveries trust (None: the system's), one attempt's timeout,
    # and how many deliveries a worker sends at once (0: this worker sends none)
    webhook_allow_private: bool = False
    webhook_ca_bundle: str | None = None
    webhook_timeout_seconds: int = 10
    webhook_senders: int = 4
    ports: Mapping[str, int] = field(default_factory=dict)
    # Base URL of each service (SERVICES) as the others reach it: /health probes their liveness.
    service_urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def postgres_conninfo(self) -> str:
        """libpq URL; short connect timeout so a dead database fails fast, not after minutes."""
        return (
            f"postgresql://{quote(self.postgres_user, safe='')}:"
            f"{quote(self.postgres_password, safe='')}@{self.postgres_host}:"
            f"{self.postgres_port}/{quote(self.postgres_db, safe='')}?connect_timeout=3"
            "&application_name=course-supporter"
            # a stuck query or a silently dropped link answers within a minute, never hangs
            "&options=-c%20statement_timeout%3D60s&keepalives=1&keepalives_idle=30"
            "&keepalives_interval=10&keepalives_count=3"
        )


# --- parsers: each returns the value or raises ValueError with a reason ---------------------


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def parse_usd(raw: str) -> Decimal:
    """An amount in USD, 0 to :data:`MAX_USD`, in whole cents (the budget settings and the admin CLI)."""
    try:
        value = Decimal(raw.strip())
    except ArithmeticError:
        raise ValueError("must be an amount in USD, e.g. 25 or 12.50") from None
    if not value.is_finite() or not 0 <= value <= MAX_USD or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"must be an amount in USD from 0 to {MAX_USD}, in cents at most")
    return value


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError("must be true or false")


def _string_list(raw: str) -> tuple[str, ...]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError('must be a JSON list of strings, e.g. ["https://example.com"]') from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('must be a JSON list of strings, e.g. ["https://example.com"]')
    return tuple(value)


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw.strip())
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"must be a {' or '.join(schemes)} URL with a host")
        return raw.strip().rstrip("/")

    return parse


_PORT = _integer(1, 65535)
# the largest amount in USD a budget may be (a numeric(12, 2) column holds it)
MAX_USD = Decimal("9999999999.99")
# the largest storage quota, the setting's and any tenant's (a bigint column holds it)
MAX_STORAGE_QUOTA_BYTES = 2**62

# (variable, field, parser, required). A variable that is not required and absent keeps the
# dataclass default.
_VARIABLES: tuple[tuple[str, str, Callable[[str], Any], bool], ...] = (
    ("ENVIRONMENT", "environment", _choice(ENVIRONMENTS), True),
    ("LOG_LEVEL", "log_level", _choice(LOG_LEVELS, upper=True), False),
    ("CORS_ALLOWED_ORIGINS", "cors_allowed_origins", _string_list, False),
    ("CORS_ALLOW_CREDENTIALS", "cors_allow_credentials", _boolean, False),
    ("CORS_ALLOWED_METHODS", "cors_allowed_methods", _string_list, False),
    ("CORS_ALLOWED_HEADERS", "cors_allowed_headers", _string_list, False),
    ("POSTGRES_USER", "postgres_user", _text, False),
    ("POSTGRES_PASSWORD", "postgres_password", _text, True),
    ("POSTGRES_DB", "postgres_db", _text, False),
    ("POSTGRES_HOST", "postgres_host", _text, True),
    ("POSTGRES_PORT", "postgres_port", _PORT, False),
    ("S3_ENDPOINT", "s3_endpoint", _url("http", "https"), True),
    ("S3_ACCESS_KEY", "s3_access_key", _text, True),
    ("S3_SECRET_KEY", "s3_secret_key", _text, True),
    ("S3_PUBLIC_ENDPOINT_URL", "s3_public_endpoint_url", _url("http", "https"), False),
    ("S3_BUCKET", "s3_bucket", _text, False),
    ("S3_REGION", "s3_region", _text, False),
    ("S3_REQUEST_TIMEOUT_SECONDS", "s3_request_timeout_seconds", _integer(1, 300), False),
    ("GEMINI_API_KEY", "gemini_api_key", _text, False),
    ("ANTHROPIC_API_KEY", "anthropic_api_key", _text, False),
    ("OPENAI_API_KEY", "openai_api_key", _text, False),
    ("DEEPSEEK_API_KEY", "deepseek_api_key", _text, False),
    ("REDIS_URL", "redis_url", _url("redis", "rediss", "unix"), True),
    ("MAX_UPLOAD_BYTES", "max_upload_bytes", _integer(1, 64 * 1024**3), False),
    ("MAX_CONCURRENT_UPLOADS_PER_TENANT", "max_concurrent_uploads_per_tenant", _integer(1, 1000), False),
    ("STORAGE_QUOTA_BYTES", "storage_quota_bytes", _integer(0, MAX_STORAGE_QUOTA_BYTES), False),
    ("MAX_JSON_BYTES", "max_json_bytes", _integer(1024, 64 * 1024**2), False),
    ("OPENAI_BASE_URL", "openai_base_url", _url("http", "https"), False),
    ("OPENAI_MODEL", "openai_model", _text, False),
    ("OPENAI_EMBEDDING_MODEL", "openai_embedding_model", _text, False),
    ("ANTHROPIC_BASE_URL", "anthropic_base_url", _url("http", "https"), False),
    ("LLM_TIMEOUT_SECONDS", "llm_timeout_seconds", _integer(1, 3600), False),
    ("LLM_MAX_ATTEMPTS", "llm_max_attempts", _integer(1, 10), False),
    ("LLM_MONTHLY_BUDGET_USD", "llm_monthly_budget_usd", parse_usd, False),
    ("LLM_RUN_LIMIT_USD", "llm_run_limit_usd", parse_usd, False),
    ("TRANSCRIPTION_MODEL", "transcription_model", _text, False),
    ("TRANSCRIPTION_MAX_BYTES", "transcription_max_bytes", _integer(64 * 1024, 1024**3), False),
    ("WEB_MAX_BYTES", "web_max_bytes", _integer(1024, 1024**3), False),
    ("WEB_TIMEOUT_SECONDS", "web_timeout_seconds", _integer(1, 300), False),
    ("GRADING_WAIT_SECONDS", "grading_wait_seconds", _integer(0, 120), False),
    ("WORKER_CONCURRENCY", "worker_concurrency", _integer(1, 32), False),
    ("WEBHOOK_ALLOW_PRIVATE", "webhook_allow_private", _boolean, False),
    ("WEBHOOK_CA_BUNDLE", "webhook_ca_bundle", _text, False),
    ("WEBHOOK_TIMEOUT_SECONDS", "webhook_timeout_seconds", _integer(1, 60), False),
    ("WEBHOOK_SENDERS", "webhook_senders", _integer(0, 64), False),
)

# The LLM providers' variables and a local webhook receiver's switch: `make up` passes these
# from its own environment to the services and the worker over what .data/local.env kept
# (see passed_overrides).
PASSED_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENAI_EMBEDDING_MODEL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "DEEPSEEK_API_KEY",
    # a local webhook receiver for one run
    "WEBHOOK_ALLOW_PRIVATE",
)


def passed_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The :data:`PASSED_VARIABLES` ``environ`` sets to a non-empty value: an operator's key
    typed at ``make up`` time wins over a saved one, and is not written back to disk."""
    return {name: environ[name] for name in PASSED_VARIABLES if environ.get(name)}


# The services that exist, in the order the local stack starts them; the OpenAPI document
# and the gateway cover each.
SERVICES = ("auth", "uploads", "courses", "agent")
# Where each service listens (agent: reserved); compose and the local stack read these.
SERVICE_PORTS = {"gateway": 8080, "auth": 8001, "uploads": 8002, "courses": 8003, "agent": 8004}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build :class:`Settings` from ``environ``; raise :class:`SettingsError` naming every
    missing or malformed variable at once, so an operator fixes them in one pass."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, attribute, parse, required in _VARIABLES:
        raw = environ.get(name)
        if raw is None or (raw == "" and not required):
            if required:
                problems.append(f"{name}: missing (required)")
            continue
        try:
            values[attribute] = parse(raw)
        except ValueError as exc:
            problems.append(f"{name}: {exc} (got {_shown(name, raw)})")
    ports: dict[str, int] = {}
    for service, default in SERVICE_PORTS.items():
        name = f"{service.upper()}_PORT"
        try:
            ports[service] = _PORT(environ[name]) if environ.get(name) else default
        except ValueError as exc:
            problems.append(f"{name}: {exc} (got {environ[name]!r})")
    service_urls: dict[str, str] = {}
    for service in SERVICES:
        name = f"{service.upper()}_URL"
        try:
            # by default the service's port on this host, as in the local stack
            service_urls[service] = (
                _url("http", "https")(environ[name])
                if environ.get(name)
                else f"http://127.0.0.1:{ports.get(service, SERVICE_PORTS[service])}"
            )
        except ValueError as exc:
            problems.append(f"{name}: {exc} (got {environ[name]!r})")
    if values.get("cors_allow_credentials") and "*" in values.get("cors_allowed_origins", ()):
        # a wildcard that echoes any Origin back with credentials lets every site act as the user
        problems.append("CORS_ALLOWED_ORIGINS: must list origins, not '*', while CORS_ALLOW_CREDENTIALS is true")
    if problems:
        raise SettingsError(problems)
    return Settings(**values, ports=ports, service_urls=service_urls)


def _shown(name: str, raw: str) -> str:
    # Never echo secrets into logs or terminals.
    if any(word in name for word in ("PASSWORD", "SECRET", "KEY")):
        return "a hidden value"
    return repr(raw)
