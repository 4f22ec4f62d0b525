"""Audio and video materials: ffmpeg cuts compact audio pieces, OpenAI's API transcribes them."""

from __future__ import annotations

import csv
import logging
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from libs.platform.settings import Settings
from services.agent.documents import Chunk
from services.agent.processors.errors import NotConfigured, SourceUnavailable, UnreadableMaterial

log = logging.getLogger(__name__)

# Speech needs little: mono 16 kHz (what Whisper-like models resample to) at 32 kbit/s CBR
# mp3, which every compatible server accepts. A constant bitrate makes a piece's size
# predictable from its length: about 4000 bytes a second, 24 MiB ≈ 100 minutes.
_AUDIO = ("-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", "32k")
_BYTES_PER_SECOND = 32_000 // 8
_HEADER_BYTES = 4096  # ID3 and Xing/LAME frames each piece starts with
_MIN_PIECE_SECONDS = 1.0
# ffmpeg picks a demuxer by the file's content: a crafted upload (an ID3 header before an HLS
# playlist) would make it read other files. Only local files, and only the containers the
# upload accepts as video and audio, may be opened.
INPUT_LIMITS = (
    "-protocol_whitelist", "file",
    "-format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,wav,mp3,ogg,flac",
)  # fmt: skip
FFMPEG_TIMEOUT_SECONDS = 3600  # a three-hour video takes a few minutes; a hung ffmpeg must not hold the job
API_TIMEOUT_SECONDS = 600.0  # a 24 MiB piece is ~100 minutes of speech to transcribe
API_MAX_RETRIES = 2

NO_AUDIO = "the file has no audio track that could be read"


@dataclass(frozen=True)
class _Piece:
    path: Path
    start: float  # seconds from the start of the material
    end: float


def make_client(
    settings: Settings, *, timeout: float = API_TIMEOUT_SECONDS, max_retries: int = API_MAX_RETRIES
) -> openai.OpenAI:
    """The OpenAI client for ``settings`` (a compatible server when OPENAI_BASE_URL is set)."""
    return openai.OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url or None,
        timeout=timeout,
        max_retries=max_retries,
    )


def transcribe(
    path: Path, settings: Settings, *, client_factory: Callable[[Settings], openai.OpenAI] | None = None
) -> list[Chunk]:
    """The speech in an audio or video file as ``transcript`` chunks, one per segment the
    provider returns, with ``start_seconds``/``end_seconds`` from the start of the file.

    :class:`NotConfigured` without OPENAI_API_KEY or when the provider refuses it;
    :class:`UnreadableMaterial` for a file with no readable audio or no speech;
    :class:`SourceUnavailable` when the provider fails in a way that may pass."""
    if not settings.openai_api_key:
        raise NotConfigured(
            "audio and video need a speech-to-text provider: set OPENAI_API_KEY"
            " (and OPENAI_BASE_URL for a compatible server)"
        )
    client = (client_factory or make_client)(settings)
    with tempfile.TemporaryDirectory(prefix="transcribe-") as workdir:
        pieces = _audio_pieces(path, Path(workdir), settings.transcription_max_bytes)
        chunks = [chunk for piece in pieces for chunk in _transcribe_piece(client, piece, settings)]
    if not chunks:
        raise UnreadableMaterial("no speech was found in the audio")
    return chunks


def _audio_pieces(source: Path, workdir: Path, max_bytes: int) -> list[_Piece]:
    """The source's first audio track as compact pieces, each at most ``max_bytes``."""
    seconds = max((max_bytes - _HEADER_BYTES) * 0.9 / _BYTES_PER_SECOND, _MIN_PIECE_SECONDS)
    pieces = _segment(source, workdir, seconds, codec=_AUDIO, offset=0.0)
    if not pieces:
        raise UnreadableMaterial(NO_AUDIO)
    fitting: list[_Piece] = []
    while pieces:
        piece = pieces.pop(0)
        if piece.path.stat().st_size <= max_bytes:
            fitting.append(piece)
            continue
        # not expected at a constant bitrate, but a provider refuses the whole file if one
        # piece is over its limit: cut this one in halves, copying the mp3 frames as they are
        half = (piece.end - piece.start) / 2
        if half < _MIN_PIECE_SECONDS:
            raise UnreadableMaterial("the audio could not be cut into pieces small enough to transcribe")
        pieces[:0] = _segment(piece.path, workdir, half, codec=("-c", "copy"), offset=piece.start)
    return fitting


def _segment(source: Path, workdir: Path, seconds: float, *, codec: tuple[str, ...], offset: float) -> list[_Piece]:
    """``source`` cut by ffmpeg's segment muxer into pieces of about ``seconds``; the
    segment list gives each piece's exact start and end, which ``offset`` shifts."""
    out = Path(tempfile.mkdtemp(dir=workdir))
    listing = out / "pieces.csv"
    _ffmpeg(
        *INPUT_LIMITS, "-i", str(source), *codec,
        "-f", "segment", "-segment_time", f"{seconds:.3f}",
        "-segment_list", str(listing), "-segment_list_type", "csv",
        str(out / "piece%05d.mp3"),
    )  # fmt: skip
    with listing.open(newline="") as rows:
        return [
            _Piece(out / name, round(offset + float(start), 3), round(offset + float(end), 3))
            for name, start, end in csv.reader(rows)
        ]


def _ffmpeg(*arguments: str) -> None:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS)
    except subprocess.CalledProcessError as exc:
        # no audio stream, or not media at all: ffmpeg says which on stderr
        log.info("transcription: ffmpeg failed (%s): %s", exc.returncode, exc.stderr.decode(errors="replace")[-2000:])
        raise UnreadableMaterial(NO_AUDIO) from None
    except subprocess.TimeoutExpired:
        log.warning("transcription: ffmpeg ran over %s s", FFMPEG_TIMEOUT_SECONDS)
        raise UnreadableMaterial("the audio could not be extracted in time") from None


def _transcribe_piece(client: openai.OpenAI, piece: _Piece, settings: Settings) -> list[Chunk]:
    try:
        with piece.path.open("rb") as audio:
            result: Any = client.audio.transcriptions.create(
                model=settings.transcription_model,
                file=audio,
                response_format="verbose_json",
                timestamp_granularities=["segment"],
            )
    except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
        # APITimeoutError is an APIConnectionError; the client has retried already
        log.warning("transcription: the provider failed: %r", exc)
        raise SourceUnavailable("the speech-to-text provider did not answer") from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        log.warning("transcription: the provider refused the key: %r", exc)
        raise NotConfigured("the speech-to-text provider refused the API key (OPENAI_API_KEY)") from None
    except openai.NotFoundError as exc:
        log.warning("transcription: no such endpoint or model: %r", exc)
        raise NotConfigured(
            "the speech-to-text provider has no transcription endpoint or no such model"
            " (OPENAI_BASE_URL, TRANSCRIPTION_MODEL)"
        ) from None
    except openai.APIStatusError as exc:  # 400, 413, 415, 422: it is the audio
        log.warning("transcription: the provider refused the audio: %r", exc)
        raise UnreadableMaterial("the speech-to-text provider could not transcribe the audio") from None
    except openai.APIError as exc:  # an answer the client could not read
        log.warning("transcription: unreadable answer from the provider: %r", exc)
        raise SourceUnavailable("the speech-to-text provider did not answer") from None
    segments = getattr(result, "segments", None)
    if segments:
        chunks = [
            Chunk(
                "transcript",
                segment.text.strip(),
                {
                    "start_seconds": round(piece.start + segment.start, 3),
                    "end_seconds": round(piece.start + segment.end, 3),
                },
            )
            for segment in segments
            if segment.text and segment.text.strip()
        ]
        return chunks
    # some compatible servers answer without segments: the piece is one chunk
    text = (result if isinstance(result, str) else getattr(result, "text", None) or "").strip()
    return [Chunk("transcript", text, {"start_seconds": piece.start, "end_seconds": piece.end})] if text else []
