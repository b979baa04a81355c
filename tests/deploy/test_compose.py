"""deploy/compose.yaml: the parts of the topology, built from this repository's Dockerfiles, the
proxy pointed at both replicas, and the same parts `make stack` runs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from typing import Any, Final

import pytest
import yaml

from tests.support import ROOT

DEPLOY: Final = ROOT / "deploy"
COMPOSE: Final[dict[str, Any]] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: Final = COMPOSE["services"]


def test_the_topology_has_its_parts() -> None:
    assert set(SERVICES) == {
        "redis", "materialize", "feature-server", "replica-1", "replica-2", "proxy",
    }  # fmt: skip


def test_every_image_builds_from_a_dockerfile_here() -> None:
    for name, service in SERVICES.items():
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert (context / build["dockerfile"]).is_file(), name


def test_the_proxy_sends_to_both_replicas_on_the_service_port() -> None:
    environment = SERVICES["proxy"]["environment"]
    assert [environment[f"FEEDRANK_REPLICA_{n}"] for n in (1, 2)] == [
        "replica-1:8000",
        "replica-2:8000",
    ]


def test_make_stack_runs_the_same_parts() -> None:
    parser = configparser.RawConfigParser(strict=True)
    parser.read(DEPLOY / "stack.supervisord.conf")
    programs = {name.removeprefix("program:") for name in parser if name.startswith("program:")}
    assert programs == set(SERVICES)


def test_docker_compose_accepts_the_file() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian's package)")
    checked = subprocess.run(
        ["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
