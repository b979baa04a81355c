"""Every repository path and module the documents name exists.

The rule, applied to README.md, SERVING.md, evaluation_report.md, feature_repo/README.md and the
report's templates:

- A candidate is the text of a `backticked` span or a markdown link target (anchor dropped)
  without whitespace that contains a '/' or ends in one of ``SUFFIXES``. URLs ('://'), API
  routes (a leading '/'), media types (``application/...``), globs and placeholders ('*', '<',
  '{', '…', ``NN``) are not paths.
- With a '/', it must exist relative to the repository root (a link starting with '.' relative
  to its document), unless git ignores it: then it is an output the pipeline or a benchmark
  writes (``data/``, ``models/``, ``reports/benchmarks/*.json``).
- A bare file name must be the name of a tracked file, of a bundle file (``bundle.store``) or
  of an output that .gitignore lists by name.
- ``python -m pkg.module`` whose top package is one of the repository's names a module that
  exists (``pkg/module.py`` or a package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from bundle import store
from tests.support import ROOT

DOCUMENTS = (
    ROOT / "README.md",
    ROOT / "SERVING.md",
    ROOT / "evaluation_report.md",
    ROOT / "feature_repo" / "README.md",
    *sorted((ROOT / "training" / "templates").rglob("*.j2")),
)
SUFFIXES = (".py", ".md", ".sh", ".yaml", ".toml", ".txt", ".ipynb", ".json", ".cfg")
CANDIDATE = re.compile(r"`([^`\n]+)`|\]\(([^)\s]+)\)")
NOT_A_PATH = re.compile(r"://|^/|^application/|[*<>{}…]|(?<![A-Za-z])NN(?![A-Za-z])|\s")
MODULE = re.compile(r"python -m ([A-Za-z_][\w.]*)")


def git(*args: str) -> list[str]:
    executable = shutil.which("git")
    if executable is None:
        pytest.skip("git is not installed: tracked and ignored files are unknown")
    result = subprocess.run(
        [executable, "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30
    )
    if result.returncode not in (0, 1):  # check-ignore answers 1 when nothing is ignored
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return result.stdout.splitlines()


@cache
def tracked_names() -> frozenset[str]:
    return frozenset(Path(name).name for name in git("ls-files"))


@cache
def output_names() -> frozenset[str]:
    """Files the pipeline writes where git does not look: the bundle's and .gitignore's own."""
    listed = [
        Path(line).name
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line and not line.startswith(("#", "!")) and not line.endswith("/") and "*" not in line
    ]
    return frozenset({store.MODEL_FILE, store.SCORING_FILE, store.METADATA_FILE, *listed})


def candidates(document: Path) -> list[str]:
    found = []
    for backticked, linked in CANDIDATE.findall(document.read_text()):
        text = (backticked or linked).split("#")[0]
        if text and not NOT_A_PATH.search(text) and ("/" in text or text.endswith(SUFFIXES)):
            found.append(text)
    return found


def missing(document: Path, path: str) -> bool:
    if "/" not in path:
        return path not in tracked_names() | output_names()
    base = document.parent if path.startswith(".") else ROOT
    target = (base / path).resolve()
    if target.exists():
        return False
    return not git("check-ignore", "--no-index", str(target.relative_to(ROOT)))


def module_exists(module: str) -> bool:
    parts = module.split(".")
    if not (ROOT / parts[0] / "__init__.py").is_file():
        return True  # not one of ours (pip, venv, papermill, ...)
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_path_a_document_names_exists(document: Path) -> None:
    stale = sorted({path for path in candidates(document) if missing(document, path)})
    assert not stale, f"{document.relative_to(ROOT)} names paths that do not exist: {stale}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_a_document_runs_exists(document: Path) -> None:
    modules = MODULE.findall(document.read_text())
    stale = sorted({module for module in modules if not module_exists(module)})
    assert not stale, f"{document.relative_to(ROOT)} runs modules that do not exist: {stale}"


def test_the_rule_tells_paths_from_routes_globs_and_placeholders(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(
        "`serving/app.py` [r](README.md#x) `app.py` `/rank/ids` `application/json` "
        "`https://x.org/a.py` `reports/metrics/*.json` `notebooks/NN_name.ipynb` "
        "`<wt>/data` `python -m serving` `not-a-path`"
    )
    assert candidates(document) == ["serving/app.py", "README.md", "app.py"]
    assert missing(document, "serving/no_such_module.py")
    assert not missing(document, "models/scoring.json")  # ignored: a pipeline output
    assert missing(document, "no_such_file.py")
    assert not module_exists("training.no_such_module") and module_exists("pip")
