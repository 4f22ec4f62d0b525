"""transcribe: real ffmpeg and the real openai client against a local OpenAI-compatible server."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from libs.platform.settings import Settings
from services.agent.processors import transcription
from services.agent.processors.errors import NotConfigured, SourceUnavailable, UnreadableMaterial
from services.agent.processors.transcription import make_client, transcribe
from tests.fakes.openai_server import FakeOpenAI, Request, error
from tests.services.agent.readers import offline_settings

ROUTE = "/v1/audio/transcriptions"
SMALLEST_PIECE = 64 * 1024  # TRANSCRIPTION_MAX_BYTES' minimum


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *arguments], check=True, timeout=60)


def duration(path: Path) -> float:
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return float(shown.stdout)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Test files made once: tones (WAV), a video with and one without sound, not-media."""
    folder = tmp_path_factory.mktemp("media")
    files = {name: folder / name for name in ("short.wav", "long.wav", "talk.mp4", "silent.mp4", "noise.mp4")}
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=6", str(files["short.wav"]))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=60", str(files["long.wav"]))
    video = ("-f", "lavfi", "-i", "testsrc=duration=4:size=64x48:rate=5")
    ffmpeg(*video, "-f", "lavfi", "-i", "sine=duration=4", "-c:v", "mpeg4", "-c:a", "aac", str(files["talk.mp4"]))
    ffmpeg(*video, "-c:v", "mpeg4", str(files["silent.mp4"]))
    files["noise.mp4"].write_bytes(bytes(range(256)) * 64)
    return files


@dataclass(frozen=True)
class Received:
    model: str
    response_format: str
    granularities: list[str]
    size: int
    seconds: float


class Transcriber:
    """The transcription route: records each upload (saved and measured with ffprobe) and
    answers two segments per piece, "piece N first half" and "piece N second half"."""

    def __init__(self, folder: Path, *, segments: bool = True) -> None:
        self.folder, self.segments = folder, segments
        self.received: list[Received] = []

    def __call__(self, request: Request) -> tuple[int, Any]:
        index = len(self.received)
        upload = request.files["file"]
        copy = self.folder / f"upload-{index}.mp3"
        copy.write_bytes(upload.data)
        seconds = duration(copy)
        self.received.append(
            Received(
                request.form["model"][0],
                request.form["response_format"][0],
                request.form["timestamp_granularities[]"],
                len(upload.data),
                seconds,
            )
        )
        texts = [f"piece {index} first half", f"piece {index} second half"]
        answer = {"task": "transcribe", "language": "english", "duration": seconds, "text": " ".join(texts)}
        if self.segments:
            answer["segments"] = [
                {"id": number, "seek": 0, "start": start, "end": end, "text": f" {text}", "tokens": []}
                | {"temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}
                for number, (text, start, end) in enumerate(
                    [(texts[0], 0.0, seconds / 2), (texts[1], seconds / 2, seconds)]
                )
            ]
        return 200, answer


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as instance:
        yield instance


@pytest.fixture
def workdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where transcribe's temporary directories go, to see that none is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def settings(server: FakeOpenAI) -> Settings:
    return offline_settings(
        OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.base_url, TRANSCRIPTION_MODEL="whisper-test"
    )


def timed(chunks: list) -> list[tuple[str, float, float]]:
    assert {chunk.kind for chunk in chunks} == {"transcript"}
    return [(chunk.text, chunk.metadata["start_seconds"], chunk.metadata["end_seconds"]) for chunk in chunks]


def test_a_short_recording_is_one_piece_with_its_segments(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings, tmp_path: Path, workdirs: Path
) -> None:
    answer = Transcriber(tmp_path)
    server.route("POST", ROUTE, answer)

    chunks = transcribe(media["short.wav"], settings)

    [received] = answer.received
    assert (received.model, received.response_format, received.granularities) == (
        "whisper-test",
        "verbose_json",
        ["segment"],
    )
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"
    assert received.seconds == pytest.approx(6, abs=0.15)
    assert received.size < 40_000  # compact: mono 16 kHz mp3, not the 190 kB WAV
    half = round(received.seconds / 2, 3)
    assert timed(chunks) == [
        ("piece 0 first half", 0.0, half),
        ("piece 0 second half", half, round(received.seconds, 3)),
    ]
    assert list(workdirs.iterdir()) == []


def test_a_long_recording_is_cut_into_pieces_under_the_limit_with_offset_times(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings, tmp_path: Path, workdirs: Path
) -> None:
    answer = Transcriber(tmp_path)
    server.route("POST", ROUTE, answer)

    chunks = transcribe(media["long.wav"], dataclasses.replace(settings, transcription_max_bytes=SMALLEST_PIECE))

    assert_pieces_line_up(answer.received, chunks)
    assert list(workdirs.iterdir()) == []


def test_a_piece_still_over_the_limit_is_cut_again(
    media: dict[str, Path],
    server: FakeOpenAI,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as if the encoder produced four times the bytes it promises: first pieces of ~55 s
    monkeypatch.setattr(transcription, "_BYTES_PER_SECOND", 1000)
    answer = Transcriber(tmp_path)
    server.route("POST", ROUTE, answer)

    chunks = transcribe(media["long.wav"], dataclasses.replace(settings, transcription_max_bytes=SMALLEST_PIECE))

    assert_pieces_line_up(answer.received, chunks)


def assert_pieces_line_up(received: list[Received], chunks: list) -> None:
    """Several uploads, each under the limit, together the whole minute, and each piece's
    segments shifted by the length of the pieces before it."""
    assert len(received) >= 4
    assert all(piece.size <= SMALLEST_PIECE for piece in received)
    assert sum(piece.seconds for piece in received) == pytest.approx(60, abs=0.5)
    rows = timed(chunks)
    assert [text for text, _, _ in rows] == [
        f"piece {index} {half} half" for index in range(len(received)) for half in ("first", "second")
    ]
    offset = 0.0
    for index, piece in enumerate(received):
        (_, first_start, _), (_, second_start, second_end) = rows[2 * index : 2 * index + 2]
        assert first_start == pytest.approx(offset, abs=0.1)
        assert second_start == pytest.approx(offset + piece.seconds / 2, abs=0.1)
        assert second_end == pytest.approx(offset + piece.seconds, abs=0.1)
        offset += piece.seconds
    starts = [start for _, start, _ in rows]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert rows[-1][2] == pytest.approx(60, abs=0.5)


def test_a_video_is_transcribed_from_its_sound(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings, tmp_path: Path
) -> None:
    answer = Transcriber(tmp_path)
    server.route("POST", ROUTE, answer)

    chunks = transcribe(media["talk.mp4"], settings)

    assert [text for text, _, _ in timed(chunks)] == ["piece 0 first half", "piece 0 second half"]
    assert answer.received[0].seconds == pytest.approx(4, abs=0.15)


def test_an_answer_without_segments_is_one_chunk_per_piece(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings, tmp_path: Path
) -> None:
    answer = Transcriber(tmp_path, segments=False)
    server.route("POST", ROUTE, answer)

    chunks = transcribe(media["long.wav"], dataclasses.replace(settings, transcription_max_bytes=SMALLEST_PIECE))

    rows = timed(chunks)
    assert [text for text, _, _ in rows] == [f"piece {i} first half piece {i} second half" for i in range(len(rows))]
    assert len(rows) == len(answer.received) >= 4
    assert rows[0][1] == 0.0
    for (_, _, end), (_, start, _) in itertools.pairwise(rows):
        assert start == end  # pieces follow each other exactly
    assert rows[-1][2] == pytest.approx(60, abs=0.5)


def test_without_an_api_key_it_names_the_setting(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings
) -> None:
    with pytest.raises(NotConfigured, match="OPENAI_API_KEY"):
        transcribe(media["short.wav"], dataclasses.replace(settings, openai_api_key=None))
    assert server.requests == []


def test_a_server_error_is_transient_after_the_clients_retries(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings, workdirs: Path
) -> None:
    server.route("POST", ROUTE, lambda _request: error(500, "The server had an error", "server_error"))

    with pytest.raises(SourceUnavailable, match=r"^the speech-to-text provider did not answer$"):
        transcribe(media["short.wav"], settings, client_factory=functools.partial(make_client, max_retries=1))
    assert len(server.requests) == 2
    assert list(workdirs.iterdir()) == []


def test_an_unreachable_server_is_transient(media: dict[str, Path], settings: Settings) -> None:
    with FakeOpenAI() as gone:
        base_url = gone.base_url  # a port that nothing listens on once it has stopped

    with pytest.raises(SourceUnavailable):
        transcribe(
            media["short.wav"],
            dataclasses.replace(settings, openai_base_url=base_url),
            client_factory=functools.partial(make_client, max_retries=0),
        )


def test_a_refused_key_names_the_setting(media: dict[str, Path], server: FakeOpenAI, settings: Settings) -> None:
    server.route("POST", ROUTE, lambda _request: error(401, "Incorrect API key provided"))

    with pytest.raises(NotConfigured, match=r"^the speech-to-text provider refused the API key \(OPENAI_API_KEY\)$"):
        transcribe(media["short.wav"], settings)


def test_audio_the_provider_rejects_is_unreadable(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings
) -> None:
    server.route("POST", ROUTE, lambda _request: error(400, "Audio file might be corrupted or unsupported"))

    with pytest.raises(UnreadableMaterial, match="could not transcribe the audio") as caught:
        transcribe(media["short.wav"], settings)
    assert not isinstance(caught.value, NotConfigured)


@pytest.mark.parametrize("name", ["noise.mp4", "silent.mp4"])
def test_a_file_without_readable_audio_is_unreadable(
    media: dict[str, Path], server: FakeOpenAI, settings: Settings, workdirs: Path, name: str
) -> None:
    with pytest.raises(UnreadableMaterial, match=r"^the file has no audio track that could be read$"):
        transcribe(media[name], settings)
    assert server.requests == []
    assert list(workdirs.iterdir()) == []
