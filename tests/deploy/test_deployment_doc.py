"""docs/deployment.md: every section of the operator's guide kept, its environment table
generated from the settings table, and its commands real for this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack import envdoc
from libs.platform import settings as settings_module

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "deployment.md"
# The operator's guide this one rewrites (outside the repository, where the project keeps it).
SEED = REPO.parent / "shared" / "seed" / "deployment-guide.md"

# Every heading of the seed guide → its counterpart here.
SEED_SECTIONS = {
    "Deployment Guide": "Deployment Guide",
    "1. Prerequisites": "1. Prerequisites",
    "2. First Deploy (from scratch)": "2. First Deploy (from scratch)",
    "2.1. Create deploy user": "2.1. Create deploy user",
    "2.2. Generate deploy SSH key": "2.2. Generate deploy SSH key",
    "2.3. Clone repository": "2.3. Clone repository",
    "2.4. Create Docker network": "2.4. Create Docker network",
    "2.5. Configure environment": "2.5. Configure environment",
    "2.6. Build and start services": "2.6. Build and start services",
    "2.7. Run database migrations": "2.7. Run database migrations",
    "2.8. Configure nginx": "2.8. Configure nginx",
    "2.9. SSL certificate": "2.9. SSL certificate",
    "2.10. Create first tenant": "2.10. Create first tenant",
    "2.11. Verify deployment": "2.11. Verify deployment",
    "3. Subsequent Deploys": "3. Subsequent Deploys",
    "Automated (GitHub Actions)": "Automated (GitHub Actions)",
    "Manual": "Manual",
    "4. Environment Variables Reference": "4. Environment Variables Reference",
    "5. Tenant Management": "5. Tenant Management",
    "6. Monitoring": "6. Monitoring",
    "Health check": "Health check",
    "Netdata dashboard": "Netdata dashboard",
    "Application logs": "Application logs",
    "External monitoring": "External monitoring",
    "7. Backup & Restore": "7. Backup & Restore",
    "Database backup": "Database backup",
    "Database restore": "Database restore",
    "8. Rollback": "8. Rollback",
    "Application rollback": "Application rollback",
    "Migration rollback": "Migration rollback",
    "9. Troubleshooting": "9. Troubleshooting",
    "Useful debug commands": "Useful debug commands",
}
# What the old guide never had.
NEW_SECTIONS = ("Object storage backup (B2 / S3)", "10. Scaling a service", "11. Beyond one host")


def headings(markdown: str) -> list[str]:
    """Markdown headings outside fenced code blocks."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            found.append(match.group(1).strip())
    return found


def code_blocks(markdown: str) -> str:
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", markdown, flags=re.DOTALL))


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text()


def test_every_section_of_the_operators_guide_has_its_counterpart(guide):
    present = headings(guide)
    missing = [seed for seed, ours in SEED_SECTIONS.items() if ours not in present]
    assert missing == [], f"sections of the operator's guide dropped: {missing}"
    assert [section for section in NEW_SECTIONS if section not in present] == []


def test_the_mapping_covers_every_heading_of_the_seed_guide():
    if not SEED.exists():
        pytest.skip(f"the seed guide is not beside this checkout ({SEED}); the mapping above holds its headings")
    assert set(headings(SEED.read_text())) == set(SEED_SECTIONS)


def test_the_environment_table_is_the_one_generated_from_the_settings_table(guide):
    assert envdoc.section(guide) == envdoc.table(), (
        "docs/deployment.md is out of date: run `python -m devstack.envdoc --write docs/deployment.md`"
    )


def test_the_environment_table_lists_every_variable_of_the_settings_table_with_its_requirement():
    rows = {name: required for name, required, *_ in envdoc.rows()}
    for name, _attribute, _parse, required in settings_module._VARIABLES:
        assert rows[name] == ("Yes" if required else "No")


def test_a_setting_without_a_description_stops_the_generator(monkeypatch):
    monkeypatch.delitem(envdoc.PURPOSE, "LOG_LEVEL")
    with pytest.raises(KeyError, match="describe LOG_LEVEL"):
        envdoc.rows()


def test_every_make_target_the_guide_runs_exists(guide):
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    # in commands: code blocks and inline code
    commands = (
        code_blocks(guide)
        + "\n"
        + "\n".join(re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", guide, flags=re.DOTALL)))
    )
    used = set(re.findall(r"(?:^|&&|;)\s*make ([a-z][a-z-]*)", commands, flags=re.MULTILINE))
    assert used, "the guide runs no make target"
    assert used - targets == set()


def test_every_compose_service_the_guide_names_exists(guide):
    compose = (REPO / "docker-compose.prod.yaml").read_text()
    services = set(re.findall(r"^  ([a-z][a-z0-9-]*):\n", compose.split("\nservices:\n", 1)[1], flags=re.MULTILINE))
    named = set()
    for line in code_blocks(guide).splitlines():
        match = re.search(
            r"docker compose -f docker-compose\.prod\.yaml (exec|run|logs|restart|stop|up -d|build|push)(.*)", line
        )
        if match:
            # the command ends at a pipe, redirection, chain or comment
            command = re.split(r"[|<>#&;]", match.group(2))[0]
            words = [w for w in command.split() if not w.startswith(("-", "$"))]
            words = [w for w in words if re.fullmatch(r"[a-z][a-z0-9-]*", w)]
            # exec and run take one service, then its command; the others a list of services
            named |= set(words[:1] if match.group(1) in ("exec", "run") else words)
    named |= set(re.findall(r"--scale ([a-z-]+)=", guide))
    assert named, "the guide names no compose service"
    assert named - services == set()


def test_every_file_and_module_the_guide_points_to_exists(guide):
    paths = set(re.findall(r"`((?:deploy|scripts|gateway|migrations|libs|services|docs)/[\w./-]+)`", guide))
    paths |= {".env.prod.example", "docker-compose.prod.yaml", ".github/workflows/deploy.yml"}
    assert [path for path in sorted(paths) if not (REPO / path).exists()] == []
    modules = set(re.findall(r"python3? -m ([\w.]+)", guide))
    missing = [
        m for m in sorted(modules) if not any((REPO / m.replace(".", "/")).with_suffix(s).exists() for s in (".py", ""))
    ]
    assert missing == []
