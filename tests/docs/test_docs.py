"""The documents reviewers read: required sections, word counts, topics, and figures that
still match the pipeline's outputs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.markdown import section, words

README = (ROOT / "README.md").read_text()
SERVING = (ROOT / "SERVING.md").read_text()
REPORT = (ROOT / "evaluation_report.md").read_text()


@pytest.mark.parametrize(
    "topic",
    [
        r"feature store", r"Feast|Tecton", r"Flink|Spark", r"Kafka", r"p99",
        r"latency budget", r"A/B", r"guardrail", r"users per arm", r"hash\(user_id",
        r"minimum detectable effect \(MDE\)", r"sample-ratio-mismatch", r"interference",
        r"sequential testing", r"keyBy", r"salted", r"idempotent upsert",
        r"Structured Streaming", r"RocksDB state store", r"percentiles do not add",
    ],
)  # fmt: skip
def test_scale_section_covers_required_topics(topic: str) -> None:
    assert re.search(topic, section(README, "Scale"), re.I), topic


def test_high_qps_discussion_is_long_enough_and_complete() -> None:
    discussion = section(SERVING, "Scaling to Reddit-scale QPS")
    assert words(discussion) >= 400
    for topic in ("Batching", "Quantization", "distillation", "caching", "Horizontal scaling",
                  "Load balancing"):  # fmt: skip
        assert topic.lower() in discussion.lower(), topic
    assert "SERVING.md" in README


def test_readme_names_the_two_commands_ci_runs() -> None:
    assert "bash run_pipeline.sh" in README and "make test-all" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash run_pipeline.sh" in ci and re.search(r"^make test-all$", ci, re.M)


def test_readme_results_table_matches_the_rendered_report() -> None:
    """Every model row quoted in the README is a row of evaluation_report.md, verbatim."""
    results = section(README, "Results")
    rows = [line for line in results.splitlines() if line.startswith("| ") and "[" in line]
    assert len(rows) >= 7
    for row in rows:
        assert row in REPORT, row


def test_readme_deployed_version_matches_the_report() -> None:
    version = re.search(r"model `(\w+-[0-9a-f]{10})`", REPORT)
    assert version and version.group(1) in README


FORBIDDEN_IN_DOCS = re.compile(r"/work/|/root/|\.\./shared|container_smoke|SMOKE_[A-Z]")
BINARY_SUFFIXES = {".png", ".joblib", ".pyc"}


def tracked_text_files() -> list[Path]:
    """Every tracked file a user reads or runs; ``.ci/run`` sets up CI's own machine."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the tracked files are unknown")
    listed = subprocess.run(
        [git, "-C", str(ROOT), "ls-files"], capture_output=True, text=True, timeout=30
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    exempt = {".ci/run", "tests/docs/test_docs.py"}
    return [
        ROOT / name
        for name in listed.stdout.splitlines()
        if name not in exempt and Path(name).suffix not in BINARY_SUFFIXES
    ]


def test_no_document_or_script_names_a_path_outside_the_repo() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tracked_text_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if FORBIDDEN_IN_DOCS.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_readme_ab_sample_sizes_are_what_experiment_design_computes() -> None:
    from training.experiment_design import ALPHA, POWER, users_per_arm

    base_rate = json.loads((ROOT / "reports" / "metrics" / "training.json").read_text())[
        "base_rate"
    ]
    rows = re.findall(
        r"^\| ([\d.]+)% \| ([\d.]+) \| ([\d,]+) \| ([\d,]+) \|$", section(README, "Scale"), re.M
    )
    assert len(rows) == 4
    for relative, absolute, per_arm, total in rows:
        n = users_per_arm(base_rate, float(relative) / 100, ALPHA, POWER)
        assert (per_arm, total) == (f"{n:,}", f"{2 * n:,}"), relative
        assert absolute == f"{base_rate * float(relative):.2f}", relative


BENCHMARKS = sorted((ROOT / "reports" / "benchmarks").glob("container-c*.json"))
PHASE_NAMES = {"health": "health", "rank_mixed": "rank 1-20 posts", "rank_20": "rank 20 posts"}


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def benchmark_rows(path: Path) -> list[str]:
    """The table rows the README may quote from one ``make benchmark`` JSON report."""
    report = json.loads(path.read_text())
    rows = []
    for name, phase in report["phases"].items():
        latencies = " | ".join(cell(phase[f"{key}_ms"]) for key in ("mean", "p50", "p95", "p99"))
        rows.append(
            f"| {report['concurrency']} | {PHASE_NAMES[name]} | {phase['throughput_rps']:.0f} "
            f"| {latencies} | {phase['errors']} | {cell(phase['server_p50_ms'])} "
            f"| {cell(phase['server_cpu_ms_per_request'])} |"
        )
    return rows


def test_benchmark_figures_are_the_committed_measurements() -> None:
    """The container rows the README quotes are rendered from reports/benchmarks/ verbatim;
    re-running the measurement means re-rendering the rows. SERVING.md quotes none: it cites
    reports/performance.md (tests/docs/test_serving_doc.py)."""
    assert len(BENCHMARKS) == 3, "expected container-c1/c8/c32.json"
    quoted = [row for path in BENCHMARKS for row in benchmark_rows(path)]
    readme_rows = re.findall(r"^\| \d+ \| (?:health|rank) .*\|$", README, re.M)
    assert readme_rows and all(row in quoted for row in readme_rows), readme_rows
