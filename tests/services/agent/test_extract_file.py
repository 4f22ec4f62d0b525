"""extract_file: the reader chosen by source_type and extension, and speech-to-text left to the caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.agent.documents import Chunk
from services.agent.processors.errors import NotConfigured, UnreadableMaterial
from services.agent.processors.files import extract_file
from tests.services.agent.readers import write


def test_text_file_goes_to_the_reader_of_its_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "download.tmp", "# Title\n\nBody.\n")
    assert extract_file("text", "Notes.MD", path) == [
        Chunk("heading", "Title", {"level": 1}),
        Chunk("paragraph", "Body."),
    ]


def test_subtitle_file_of_a_video_material_is_read_without_transcription(tmp_path: Path) -> None:
    path = write(tmp_path, "download.tmp", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n")

    def transcribe(path: Path) -> list[Chunk]:
        raise AssertionError("subtitles need no speech-to-text")

    assert extract_file("video", "lecture.vtt", path, transcribe=transcribe) == [
        Chunk("transcript", "Hi", {"start_seconds": 1.0, "end_seconds": 2.0})
    ]


def test_video_file_goes_to_transcribe(tmp_path: Path) -> None:
    path = write(tmp_path, "download.tmp", "not really a video")
    heard = []

    def transcribe(given: Path) -> list[Chunk]:
        heard.append(given)
        return [Chunk("transcript", "spoken words", {"start_seconds": 0.0, "end_seconds": 1.5})]

    assert extract_file("video", "lecture.mp4", path, transcribe=transcribe) == [
        Chunk("transcript", "spoken words", {"start_seconds": 0.0, "end_seconds": 1.5})
    ]
    assert heard == [path]


def test_audio_or_video_without_transcribe_names_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "download.tmp", "not really audio")
    with pytest.raises(NotConfigured) as caught:
        extract_file("video", "talk.mp3", path)
    assert str(caught.value) == (
        "audio and video need a speech-to-text provider: set OPENAI_API_KEY"
        " (and OPENAI_BASE_URL for a compatible server)"
    )


def test_extension_the_source_type_does_not_take_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "download.tmp", "text")
    with pytest.raises(UnreadableMaterial) as caught:
        extract_file("presentation", "slides.txt", path)
    assert str(caught.value) == "a presentation material cannot be read from a .txt file"


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "download.tmp", "")
    with pytest.raises(UnreadableMaterial) as caught:
        extract_file("presentation", "slides.pptx", path)
    assert str(caught.value) == "the file is empty"
