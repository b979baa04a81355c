"""How ``make docker-smoke`` compares the feature server's values with the CSV's text."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.container_feature_server import same_value


@pytest.mark.parametrize(
    ("field", "stored", "written", "same"),
    [
        ("title", "new daily thread", "new daily thread", True),
        ("title", "new daily thread", "new daily thread ", False),
        ("subreddit", "aww", "aww", True),
        ("score", 173, "173", True),
        ("score", 174, "173", False),
        ("upvote_ratio", 0.8266, "0.8266", True),
        ("post_age_hours", 57.701006495183876, "57.701006495183876", True),
        ("post_age_hours", 57.70100649518387, "57.701006495183876", False),
        ("score", None, "173", False),
    ],
)
def test_values_match_exactly(field: str, stored: Any, written: str, same: bool) -> None:
    assert same_value(field, stored, written) is same
