"""``scripts.rank_slate``, the pipeline's served ranking, without a server: the slate it sends and
its one-line failures. The served case, with a real server, is tests/system/test_serve_step.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.schema import INPUT_COLUMNS, LABEL_COLUMN
from scripts.rank_slate import main, read_slate
from tests.support.server import free_port


def test_the_slate_is_the_first_posts_typed_as_the_api_takes_them(canonical_csv: Path) -> None:
    posts = read_slate(canonical_csv, 3)
    assert [post["post_id"] for post in posts] == [0, 1, 2]
    assert all(tuple(post) == INPUT_COLUMNS and LABEL_COLUMN not in post for post in posts)
    assert isinstance(posts[0]["score"], int) and isinstance(posts[0]["upvote_ratio"], float)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read 5 posts from"),
        ("post_id,title\n", "holds no posts"),
        ("post_id,title\n1,a\n", "cannot read 5 posts from"),
    ],
)
def test_a_bad_csv_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "posts.csv"
    if content is not None:
        path.write_text(content)
    assert main(["--url", "http://127.0.0.1:1", "--csv", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("rank_slate: ") and message in error and error.count("\n") == 1


def test_no_server_fails_with_one_line_after_the_wait(
    canonical_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url, "--csv", str(canonical_csv), "--wait", "0.5"]) == 1
    assert capsys.readouterr().err == f"rank_slate: no answer from {url}/health within 0.5 s\n"
