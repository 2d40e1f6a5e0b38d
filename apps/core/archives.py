"""Hashing and archiving of artifacts the platform produces (model predictors, result files).

A predictor is stored as one ``.tar.gz`` of its directory plus the archive's SHA-256. It is only
ever extracted after the hash matches the one recorded when it was made, and extraction refuses
entries that would land outside the target folder (absolute paths, ``..``, links pointing out).
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import BinaryIO

from apps.core.exceptions import Conflict

CHUNK_SIZE = 1024 * 1024


def sha256_stream(handle: BinaryIO) -> str:
    """SHA-256 of everything readable from ``handle`` (read in chunks, never whole into memory)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: Path) -> str:
    with open(path, "rb") as handle:
        return sha256_stream(handle)


def archive_directory(source: Path, destination: Path) -> str:
    """Pack ``source`` into the gzip tarball ``destination``; return the archive's SHA-256."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz", compresslevel=6) as tar:  # level 9 costs ~10x the time for ~3% size
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    return sha256_path(destination)


class UnsafeArchive(Conflict):
    default_message = "The archive failed its integrity or safety check and was not loaded."


def _check_digest(actual: str, expected: str) -> None:
    if not expected or actual != expected:
        raise UnsafeArchive(
            f"Artifact hash mismatch: recorded {expected or 'nothing'}, found {actual}. It will not be loaded."
        )


def verify_sha256(path: Path, expected: str) -> None:
    """Raise UnsafeArchive unless the file's SHA-256 is ``expected``."""
    _check_digest(sha256_path(path), expected)


def copy_verified(source: BinaryIO, destination: Path, expected: str) -> None:
    """Copy ``source`` to ``destination`` hashing as it goes (one read); on a mismatch remove the copy and
    raise UnsafeArchive, so nothing unverified is ever left where a loader could find it."""
    digest = hashlib.sha256()
    with open(destination, "wb") as target:
        for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
            digest.update(chunk)
            target.write(chunk)
    try:
        _check_digest(digest.hexdigest(), expected)
    except UnsafeArchive:
        destination.unlink(missing_ok=True)
        raise


def extract_archive_safely(archive: Path, destination: Path) -> None:
    """Extract a tarball with tarfile's ``data`` filter: no absolute paths, no ``..``, no links out."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
                    raise UnsafeArchive(f"Refused to extract {archive.name}: entry {member.name!r} leaves the folder.")
            tar.extractall(destination, filter="data")
    except (tarfile.FilterError, tarfile.ReadError) as exc:
        raise UnsafeArchive(f"Refused to extract {archive.name}: {exc}") from exc
