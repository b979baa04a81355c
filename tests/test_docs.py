"""The documents reviewers read: required sections, word counts, topics, and figures that
still match the pipeline's outputs."""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
SERVING = (ROOT / "SERVING.md").read_text()
REPORT = (ROOT / "evaluation_report.md").read_text()


def section(markdown: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"section '## {heading}' is missing"
    return match.group(1)


def words(text: str) -> int:
    prose = re.sub(r"^\|.*\|$", "", text, flags=re.M)  # tables are not prose
    return len(re.findall(r"[A-Za-z0-9][\w'.%/-]*", prose))


def test_scale_section_is_long_enough() -> None:
    assert words(section(README, "Scale")) >= 350


@pytest.mark.parametrize(
    "topic",
    [
        r"feature store", r"Feast|Tecton", r"Flink|Spark", r"Kafka", r"p99",
        r"latency budget", r"A/B", r"guardrail", r"users per arm", r"hash\(user_id",
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
    assert "bash run_pipeline.sh" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash run_pipeline.sh" in ci and re.search(r"^make test$", ci, re.M)


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
