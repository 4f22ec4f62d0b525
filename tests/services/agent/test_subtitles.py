"""Subtitles: a transcript chunk per cue of a WebVTT or SRT file, markup removed."""

from __future__ import annotations

from pathlib import Path

from services.agent.documents import Chunk
from services.agent.processors import subtitles
from services.agent.processors.subtitles import read_srt, read_vtt
from tests.services.agent.readers import unreadable, write


def transcript(text: str, start: float, end: float) -> Chunk:
    return Chunk("transcript", text, {"start_seconds": start, "end_seconds": end})


VTT = """\
WEBVTT - a lecture

NOTE recorded in room 4

intro
00:00:01.000 --> 00:00:04.500
<v Roger>Welcome to <b>cell</b> biology,
today &amp; tomorrow.

00:00:05.000 --> 00:00:06.000
<c.yellow></c>

01:02:03.250 --> 01:02:04.000 align:start line:0
<i>The end</i>
"""

SRT = """\
1\r
00:00:01,000 --> 00:00:02,500\r
{\\an8}<i>Hello</i> there\r
my friend\r
\r
2\r
00:00:02,500 --> 00:00:04,000\r
\r
3\r
00:01:00,125 --> 00:01:03,000\r
<font color="red">Red</font> <b>text</b>\r
"""


def test_vtt_gives_one_transcript_chunk_per_cue_with_its_times(tmp_path: Path) -> None:
    assert read_vtt(write(tmp_path, "a.vtt", VTT)) == [
        transcript("Welcome to cell biology, today & tomorrow.", 1.0, 4.5),
        transcript("The end", 3723.25, 3724.0),
    ]


def test_vtt_with_a_bom_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "a.vtt", ("\ufeff" + VTT).encode())
    assert read_vtt(path)[0].text == "Welcome to cell biology, today & tomorrow."


def test_srt_cues_lose_their_markup_and_join_their_lines(tmp_path: Path) -> None:
    assert read_srt(write(tmp_path, "a.srt", SRT)) == [
        transcript("Hello there my friend", 1.0, 2.5),
        transcript("Red text", 60.125, 63.0),
    ]


def test_malformed_vtt_is_unreadable_in_plain_words(tmp_path: Path) -> None:
    with unreadable("the subtitle file could not be read: it is not a valid WebVTT file"):
        read_vtt(write(tmp_path, "a.vtt", "Just some text\n\nwith no header\n"))


def test_malformed_srt_is_unreadable_in_plain_words(tmp_path: Path) -> None:
    with unreadable("the subtitle file could not be read: it is not a valid SRT file"):
        read_srt(write(tmp_path, "a.srt", "hello\nthis is not a subtitle file\n"))


def test_vtt_without_cues_has_no_text(tmp_path: Path) -> None:
    with unreadable("no text was found in the subtitle file"):
        read_vtt(write(tmp_path, "a.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<b></b>\n"))


def test_subtitles_that_are_not_utf8_are_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "a.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nGröße\n".encode("latin-1"))
    with unreadable("the subtitle file could not be read: it is not UTF-8 text"):
        read_vtt(path)


def test_a_cue_ending_before_it_starts_is_refused_naming_it(tmp_path: Path) -> None:
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfine\n\n00:01:05.000 --> 00:01:02.000\nbackwards\n"
    with unreadable("the subtitle file's cue 2 ends (00:01:02.000) before it starts (00:01:05.000)"):
        read_vtt(write(tmp_path, "backwards.vtt", vtt))


def test_a_subtitle_file_past_what_can_be_read_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(subtitles, "MAX_BYTES", 1024**2)
    cue = "WEBVTT\n\n00:00:00.000 --> 03:00:00.000\n" + "lecture " * 140_000 + "\n"
    with unreadable("a subtitle file of more than 1 MiB is more than can be read"):
        read_vtt(write(tmp_path, "cue.vtt", cue))
