"""Odd multipart bodies, sent raw: each is a 4xx JSON answer naming the problem in our own
words (never a codec's or a library's), and nothing is left behind."""

import pytest

from tests.services.uploads.conftest import assert_nothing_left

BOUNDARY = "b0undary"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(64 * 1024)


def part(headers: bytes, content: bytes) -> bytes:
    return b"--" + BOUNDARY.encode() + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"


SOURCE_TYPE = part(b'Content-Disposition: form-data; name="source_type"', b"video")
GOOD_FILE = part(b'Content-Disposition: form-data; name="file"; filename="ok.mp4"', MP4)
END = b"--" + BOUNDARY.encode() + b"--\r\n"


def file_named(raw_filename: bytes) -> bytes:
    return part(b'Content-Disposition: form-data; name="file"; filename="' + raw_filename + b'"', MP4)


# (raw parts after source_type, status, the description's start)
CASES = {
    "control byte in filename": ([file_named(b"clip\x01.mp4")], 422, "file: the filename must not contain control"),
    "escape in filename": ([file_named(b"clip\x1b[31m.mp4")], 422, "file: the filename must not contain control"),
    "NUL in filename": ([file_named(b"clip\x00.mp4")], 422, "file: the filename must not contain control"),
    "DEL in filename": ([file_named(b"clip\x7f.mp4")], 422, "file: the filename must not contain control"),
    "invalid UTF-8 filename": ([file_named(b"\xff\xfeclip.mp4")], 422, "file: a part's Content-Disposition"),
    "latin-1 filename": ([file_named("Vorlesung_Übung.mp4".encode("latin-1"))], 422, "file: a part's Content-"),
    "overlong filename": ([file_named(b"a" * 300 + b".mp4")], 422, "file: the filename must be at most 255"),
    "empty filename": ([file_named(b"")], 422, "file: must be a file part with a filename"),
    "unknown filename* charset": (
        [part(b"Content-Disposition: form-data; name=\"file\"; filename*=x-nonsense''clip.mp4", MP4)],
        422,
        "file: the filename* parameter",
    ),
    "filename* not in its charset": (
        [part(b"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''%FF%FE.mp4", MP4)],
        422,
        "file: the filename* parameter",
    ),
    "part without a name": (
        [GOOD_FILE, part(b'Content-Disposition: form-data; filename="x.mp4"', MP4)],
        422,
        "form: a part has no name",
    ),
    "part without Content-Disposition": ([GOOD_FILE, part(b"Content-Type: text/plain", b"x")], 422, "form: a part"),
    "non-UTF-8 name": (
        [GOOD_FILE, part(b'Content-Disposition: form-data; name="\xff\xfe"', b"x")],
        422,
        "file: a part's Content-Disposition",
    ),
    "control byte in name": (
        [GOOD_FILE, part(b'Content-Disposition: form-data; name="a\x01b"', b"x")],
        422,
        "a part: unknown field",
    ),
    "huge part headers": (
        [GOOD_FILE, part(b'Content-Disposition: form-data; name="source_url"\r\nX-Pad: ' + b"a" * 10_000, b"x")],
        400,
        "form: a part's headers are incomplete or longer than 8192 bytes",
    ),
    "non-UTF-8 text field": (
        [GOOD_FILE, part(b'Content-Disposition: form-data; name="source_url"', b"http://\xff.example/")],
        422,
        "source_url: must be UTF-8 text",
    ),
    "body cut before its end": ([GOOD_FILE[:-2000]], 400, "form: the body does not follow"),
}


def post(client, course, body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}"):
    return client.simulate_post(
        f"/api/v1/courses/{course['id']}/materials",
        body=body,
        headers={"X-API-Key": course["key"], "Content-Type": content_type},
    )


def assert_our_words(result, status: int, start: str) -> None:
    assert result.status_code == status, result.text
    assert result.headers["Content-Type"].startswith("application/json")
    description = result.json["description"]
    assert description.startswith(start), description
    for leak in ("codec", "Traceback", "decode byte", "in position", "0xff"):
        assert leak not in description


@pytest.mark.parametrize("case", list(CASES))
def test_odd_part_headers_are_4xx_naming_the_problem_and_leave_nothing(client, course, storage, db, case):
    parts, status, start = CASES[case]
    body = SOURCE_TYPE + b"".join(parts) + (END if case != "body cut before its end" else b"")
    assert_our_words(post(client, course, body), status, start)
    assert_nothing_left(storage, db, course)


def test_a_form_without_a_boundary_is_400(client, course, storage, db):
    result = post(client, course, SOURCE_TYPE + GOOD_FILE + END, content_type="multipart/form-data")
    assert_our_words(result, 400, "form: the Content-Type header needs a boundary")
    assert_nothing_left(storage, db, course)


def test_a_sane_raw_form_is_stored(client, course, storage, db):
    # the raw bodies above are well-formed apart from their oddity
    result = post(client, course, SOURCE_TYPE + GOOD_FILE + END)
    assert result.status_code == 201, result.text
    assert result.json["filename"] == "ok.mp4"


@pytest.mark.parametrize(
    ("fields", "start"),
    [
        ({"source_type": "video", "source_url": "https://example.com/talk.mp4"}, "source_url: only a web material"),
        ({"source_url": "https://example.com/talk.mp4", "source_type": "text"}, "source_url: only a web material"),
        ({"source_type": "web", "source_url": "http://127.1/"}, "source_url: must point to a public address"),
        ({"source_type": "web", "source_url": "http://[::ffff:127.0.0.1]/"}, "source_url: must point to a public"),
        ({"source_type": "web", "source_url": "http://169.254.169.254/"}, "source_url: must point to a public"),
        ({"source_type": "web", "source_url": "http://metadata.google.internal/"}, "source_url: must name a public"),
        ({"source_type": "web", "source_url": "http://u:p@example.com/"}, "source_url: must not contain credentials"),
    ],
)
def test_source_url_is_only_for_web_and_only_public(client, course, storage, db, fields, start):
    body = b"".join(
        part(f'Content-Disposition: form-data; name="{name}"'.encode(), value.encode())
        for name, value in fields.items()
    )
    result = post(client, course, body + END)
    assert_our_words(result, 422, start)
    assert result.json["errors"][0]["field"] == "source_url"
    assert_nothing_left(storage, db, course)
