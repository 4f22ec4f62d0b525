"""Zip-based files (.docx, .pptx) opened only once what they unpack to is known to fit.

python-docx and python-pptx read every part of the package into memory when they open it,
and parse its XML whole: a 1 MB .docx that unpacks to 1 GiB took the worker to 2.1 GB. So
before either library sees a file, every member is unpacked once, streaming and discarded,
counting as it goes (the sizes a zip declares are the uploader's word, not a fact), and the
file is refused as "too large when unpacked" as soon as a count passes its cap:

- the whole package past MAX_UNPACKED_BYTES (what the library will hold in memory);
- one XML part past MAX_XML_BYTES (what lxml parses into a tree many times its size);
- a member past MAX_RATIO times its packed size, once it is past RATIO_FLOOR bytes: text
  compresses 5 to 20 times, media hardly at all; a thousandfold is a bomb;
- more than MAX_MEMBERS members.

A file that is not a readable zip is left to the library, which says it is damaged.
"""

from __future__ import annotations

import zipfile
import zlib

from services.agent.processors.errors import UnreadableMaterial

MIB = 1024 * 1024
MAX_UNPACKED_BYTES = 256 * MIB
MAX_XML_BYTES = 32 * MIB
MAX_RATIO = 100
RATIO_FLOOR = MIB
MAX_MEMBERS = 10_000
READ_SIZE = MIB


class TooLargeUnpacked(UnreadableMaterial):
    """The package unpacks to more than a worker may hold."""


def check_package(path: object, label: str) -> None:
    """Unpack every member of the zip at ``path`` once, counting; :class:`TooLargeUnpacked`
    naming the limit met, for a ``label`` ("the Word file") past any cap."""
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a zip we can read: the library says it is damaged
    with package:
        members = package.infolist()
        if len(members) > MAX_MEMBERS:
            raise TooLargeUnpacked(f"{label} is too large when unpacked: over {MAX_MEMBERS} parts")
        total = 0
        for member in members:
            if member.is_dir():
                continue
            try:
                total = _unpack(package, member, total, label)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError):
                return  # damaged: the library meets it too, and says so
    return


def _unpack(package: zipfile.ZipFile, member: zipfile.ZipInfo, total: int, label: str) -> int:
    is_xml = member.filename.lower().endswith((".xml", ".rels"))
    unpacked = 0
    with package.open(member) as stream:
        while chunk := stream.read(READ_SIZE):
            unpacked += len(chunk)
            total += len(chunk)
            if total > MAX_UNPACKED_BYTES:
                raise TooLargeUnpacked(f"{label} is too large when unpacked: over {_amount(MAX_UNPACKED_BYTES)}")
            if is_xml and unpacked > MAX_XML_BYTES:
                raise TooLargeUnpacked(
                    f"{label} is too large when unpacked: its part {member.filename} is over {_amount(MAX_XML_BYTES)}"
                )
            if unpacked > RATIO_FLOOR and unpacked > MAX_RATIO * max(member.compress_size, 1):
                raise TooLargeUnpacked(
                    f"{label} is too large when unpacked: its part {member.filename} unpacks to over"
                    f" {MAX_RATIO} times its packed size"
                )
    return total


def _amount(size: int) -> str:
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // 1024} KiB"
