"""Hand-written hostile requests through the front door: HAProxy in front of the replicas, in
the session's stack (``make stack``), not the TestClient. Every one gets a prompt 4xx (or a 200
where the input is in fact valid) with the one error body, never a 5xx, and the replicas are
alive afterwards.

tests/serving/test_app.py covers the everyday 4xx cases in process; this module adds what only
a socket shows (10 MB bodies, chunked uploads) and the inputs built to hurt a parser: deep
nesting, huge numbers, long strings, bad encodings, duplicate keys and 10,000-element arrays.
Both the proxy's own answers (a body over the limit) and the replicas' pass through it.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from serving.errors import MAX_DETAILS, MAX_INPUT_CHARS, ErrorBody
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

JSON = {"content-type": "application/json"}
TEN_MB = 10 * 1024 * 1024
# generous, so a loaded 2-core machine passes: what this catches is a parser blow-up, which
# costs tens of seconds or a dead server, not a slow scheduler
MAX_SECONDS = 10.0


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=30.0) as session:
        yield session


@pytest.fixture
def post(api_posts: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(api_posts[0])


def send(client: httpx.Client, content: Any, headers: dict[str, str] = JSON) -> httpx.Response:
    """POSTs raw content to /rank and checks the universal promises: quick, never 5xx."""
    start = time.perf_counter()
    response = client.post("/rank", content=content, headers=headers)
    elapsed = time.perf_counter() - start
    assert response.status_code < 500, response.text
    assert elapsed < MAX_SECONDS, f"{elapsed:.2f} s"
    assert response.headers["content-type"].startswith("application/json")
    return response


def error_of(response: httpx.Response, status: int, code: str = "validation_error") -> ErrorBody:
    assert response.status_code == status, response.text
    body = ErrorBody.model_validate(response.json())
    assert (body.status, body.error) == (status, code)
    return body


def with_literal(post: dict[str, Any], field: str, literal: str) -> bytes:
    """A one-post bare array whose ``field`` is written as the raw JSON ``literal``."""
    text = json.dumps([{**post, field: "@@"}])
    return text.replace('"@@"', literal).encode()


# --- size ---------------------------------------------------------------------------------------


def test_10_mb_body_with_content_length_is_413(client: httpx.Client) -> None:
    error_of(send(client, b"[" + b" " * TEN_MB + b"]"), 413, "payload_too_large")


def test_10_mb_chunked_body_is_413_without_reading_it_all(stack: RunningStack) -> None:
    """Streams a chunked 10 MB body over a raw socket and stops at the answer: the replica must
    answer 413 after reading about its 256 KiB limit, long before the client is done, and the
    proxy must pass that answer on. Loopback socket buffers can hold a few MB nobody read; a
    server that reads everything answers only after all 10 MB were sent."""
    host, port = stack.url.removeprefix("http://").split(":")
    chunk = b" " * 65536
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    sent = 0
    with socket.socket() as sock:
        sock.settimeout(30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # little client-side slack
        sock.connect((host, int(port)))
        sock.sendall(
            b"POST /rank HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        answer = b""
        while sent < TEN_MB and not answer:
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed: read its answer below
            sent += len(chunk)
            readable, _, _ = select.select([sock], [], [], 0.002)
            if readable:
                answer = sock.recv(65536)
        answer = answer or sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent <= TEN_MB // 2, f"{sent:,} bytes sent before the 413"


@pytest.mark.parametrize(
    ("make_body", "status"),
    [
        # 10,000 real posts: ~2 MB, over the limit before any parsing
        (lambda p: json.dumps([{**p, "post_id": i} for i in range(10_000)]), 413),
        # 10,000 small elements fit the limit: rejected by length, not element by element
        (lambda p: json.dumps([1] * 10_000), 422),
        (lambda p: json.dumps({"posts": [{}] * 10_000}), 422),
        # a 10,000-element array where a string belongs
        (lambda p: json.dumps([{**p, "title": [0] * 10_000}]), 422),
    ],
    ids=["10k-posts", "10k-ints", "10k-empty-objects", "10k-array-as-title"],
)
def test_10000_element_arrays(
    client: httpx.Client, post: dict[str, Any], make_body: Any, status: int
) -> None:
    response = send(client, make_body(post).encode())
    if status == 413:
        error_of(response, 413, "payload_too_large")
        return
    body = error_of(response, 422)
    assert len(body.details) <= MAX_DETAILS and len(response.content) < 16_384


def test_thousands_of_unknown_keys_are_one_problem(
    client: httpx.Client, post: dict[str, Any]
) -> None:
    extra = {f"x{index}": index for index in range(15_000)}  # ~230 KB, just under the limit
    body = error_of(send(client, json.dumps({"posts": [post], **extra}).encode()), 422)
    assert body.message.startswith("1 problem in the request body")
    assert [(d.loc, d.type) for d in body.details] == [(["body"], "too_many_fields")]


# --- structure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,  # 200 KB of nesting
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        None,  # nesting inside a post's field, filled in below
    ],
    ids=["arrays-100k-deep", "objects-20k-deep", "nested-title"],
)
def test_deeply_nested_json_is_400(
    client: httpx.Client, post: dict[str, Any], raw: str | None
) -> None:
    content = (
        with_literal(post, "title", "[" * 5_000 + "]" * 5_000) if raw is None else raw.encode()
    )
    body = error_of(send(client, content), 400, "invalid_json")
    assert "recursion limit" in body.message


@pytest.mark.parametrize(
    ("field", "literal", "kind"),
    [
        ("post_age_hours", "NaN", "finite_number"),
        ("post_age_hours", "Infinity", "finite_number"),
        ("upvote_ratio", "-Infinity", "finite_number"),
        ("score", "NaN", "int_type"),
        ("post_age_hours", "1e308", "less_than_equal"),
        ("post_age_hours", "-1e308", "greater_than_equal"),
        ("post_age_hours", "1e309", "finite_number"),  # overflows to inf while parsing
        ("score", "1e308", "int_type"),
        ("author_karma", "1.0", "int_type"),
        ("post_id", "9223372036854775808", "less_than_equal"),  # 2**63
    ],
)
def test_non_finite_and_huge_numbers_are_422(
    client: httpx.Client, post: dict[str, Any], field: str, literal: str, kind: str
) -> None:
    detail = error_of(send(client, with_literal(post, field, literal)), 422).details[0]
    assert (detail.item, detail.field, detail.type) == (0, field, kind)


@pytest.mark.parametrize("literal", ["9" * 5_000, "-" + "9" * 100_000])
def test_integers_with_thousands_of_digits_are_400(
    client: httpx.Client, post: dict[str, Any], literal: str
) -> None:
    body = error_of(send(client, with_literal(post, "score", literal)), 400, "invalid_json")
    assert "number out of range" in body.message


@pytest.mark.parametrize(
    ("field", "literal", "echoed"),
    [
        ("post_age_hours", "1e-400", 0.0),  # underflows to zero: a valid age
        ("post_age_hours", "5e-324", 5e-324),
        ("upvote_ratio", "0." + "1" * 10_000, 0.1111111111111111),
    ],
)
def test_extreme_but_valid_numbers_are_ranked(
    client: httpx.Client, post: dict[str, Any], field: str, literal: str, echoed: float
) -> None:
    response = send(client, with_literal(post, field, literal))
    assert response.status_code == 200, response.text
    assert response.json()["ranked"][0]["post"][field] == echoed


@pytest.mark.parametrize("where", ["in-post", "top-level"])
def test_duplicate_keys_are_422_naming_the_key(
    client: httpx.Client, post: dict[str, Any], where: str
) -> None:
    """Every common JSON parser keeps the last value silently; the service refuses instead."""
    valid = json.dumps(post)
    if where == "in-post":
        content, key = "[" + valid[:-1] + ', "score": 5}]', "score"
    else:
        content, key = '{"posts": [], "posts": [' + valid + "]}", "posts"
    detail = error_of(send(client, content.encode()), 422).details[0]
    assert (detail.type, detail.input) == ("duplicate_key", key)
    assert "appear only once" in detail.message


# --- strings and encodings ----------------------------------------------------------------------


def test_titles_are_limited_in_characters_not_bytes(
    client: httpx.Client, post: dict[str, Any]
) -> None:
    emoji = "\N{GRINNING FACE}" * 300  # 300 characters, 1,200 bytes of UTF-8
    response = send(client, json.dumps([{**post, "title": emoji}], ensure_ascii=False).encode())
    assert response.json()["ranked"][0]["post"]["title"] == emoji
    detail = error_of(
        send(client, json.dumps([{**post, "title": emoji + "x"}]).encode()), 422
    ).details[0]
    assert (detail.field, detail.type) == ("title", "string_too_long")


def test_a_200_kb_title_is_422_with_a_short_echo(
    client: httpx.Client, post: dict[str, Any]
) -> None:
    response = send(client, json.dumps([{**post, "title": "x" * 200_000}]).encode())
    detail = error_of(response, 422).details[0]
    assert (detail.field, detail.type) == ("title", "string_too_long")
    assert isinstance(detail.input, str) and len(detail.input) <= MAX_INPUT_CHARS + 3
    assert len(response.content) < 1_024


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'[{"title": "\xff"}]', "invalid_encoding"),
        (b'[{"title": "\xc0\xaf"}]', "invalid_encoding"),  # overlong encoding of '/'
        (b'[{"title": "\xed\xa0\x80"}]', "invalid_encoding"),  # a UTF-16 surrogate in UTF-8
        ('[{"title": "x"}]'.encode("utf-16"), "invalid_encoding"),
        (b'[{"title": "\\ud800"}]', "invalid_json"),  # lone surrogate escape
        (b"\xef\xbb\xbf[]", "invalid_json"),  # byte-order mark (RFC 8259: must not be sent)
    ],
    ids=["0xff", "overlong", "surrogate-bytes", "utf-16", "lone-surrogate-escape", "bom"],
)
def test_non_utf8_and_broken_text_is_400(client: httpx.Client, content: bytes, code: str) -> None:
    error_of(send(client, content), 400, code)


def test_nul_and_control_characters_are_just_text(
    client: httpx.Client, post: dict[str, Any]
) -> None:
    title = "a\x00b\x1b[31mc\u202ed"
    response = send(client, json.dumps([{**post, "title": title}]).encode())
    assert response.status_code == 200 and response.json()["ranked"][0]["post"]["title"] == title


# --- media types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=utf-16",
        "application/jsonx",
        "json",
    ],
)
def test_wrong_content_type_is_415(
    client: httpx.Client, post: dict[str, Any], content_type: str
) -> None:
    content = json.dumps([post]).encode()
    error_of(send(client, content, {"content-type": content_type}), 415, "unsupported_media_type")


# --- afterwards ---------------------------------------------------------------------------------


def test_the_replicas_survived_everything(
    stack: RunningStack, client: httpx.Client, post: dict[str, Any]
) -> None:
    pids = {part["name"]: part["pid"] for part in stack.printed["components"]}
    info = stack.supervisor().getAllProcessInfo()
    assert {i["name"]: i["pid"] for i in info if i["name"].startswith("replica")} == {
        name: pid for name, pid in pids.items() if name.startswith("replica")
    }
    assert send(client, json.dumps([post]).encode()).status_code == 200
    for number in (1, 2):
        metrics = httpx.get(f"{stack.replica(number)}/metrics", timeout=30.0).text
        assert 'status="5' not in metrics
