"""Streaming dataset uploads: size limit, SHA-256 and text checks computed while the bytes arrive.

``DatasetUploadHandler`` replaces Django's upload handlers on the views that take a dataset: every
file goes to a temporary file on disk in chunks (never whole into memory, whatever its size), and
each chunk also feeds an ``UploadInspector`` that hashes it, counts it against
``DATASET_MAX_UPLOAD_BYTES`` and checks that it is UTF-8 text. The finished file carries the result
as ``file.inspection``; ``inspect_upload`` gives the same result for files that arrived otherwise.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from apps.core.exceptions import PayloadTooLarge

logger = logging.getLogger("maestro.projects")

CHUNK_SIZE = 1024 * 1024
HEAD_BYTES = 8
# Request bytes allowed beyond the file itself: multipart boundaries, headers and the other form fields.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def max_upload_bytes() -> int:
    return settings.DATASET_MAX_UPLOAD_BYTES


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {limit:,} bytes a dataset may have (DATASET_MAX_UPLOAD_BYTES).",
        field="file",
    )


@dataclass(frozen=True)
class UploadInspection:
    """What was learnt from an upload's bytes while they streamed by."""

    sha256: str
    size_bytes: int
    head: bytes
    has_nul: bool
    utf8_error_offset: int | None
    odd_quotes: bool = False  # an odd number of '"': a quoted value may never be closed

    @property
    def is_utf8(self) -> bool:
        return self.utf8_error_offset is None


class UploadInspector:
    """Hash, size, NUL-byte and UTF-8 checks, fed one chunk at a time."""

    def __init__(self, *, limit: int | None = None):
        self.limit = limit
        self._digest = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.size = 0
        self.head = b""
        self.has_nul = False
        self.quotes = 0
        self.utf8_error_offset: int | None = None

    def feed(self, chunk: bytes) -> None:
        if self.limit is not None and self.size + len(chunk) > self.limit:
            raise too_large(self.limit)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._digest.update(chunk)
        if not self.has_nul and b"\x00" in chunk:
            self.has_nul = True
        self.quotes += chunk.count(b'"')
        # Plain ASCII (most CSV bytes) is valid UTF-8 as long as no multi-byte character is pending.
        if self.utf8_error_offset is None and not (chunk.isascii() and not self._decoder.getstate()[0]):
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                self.utf8_error_offset = self.size + exc.start
        self.size += len(chunk)

    def finish(self) -> UploadInspection:
        if self.utf8_error_offset is None:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:  # the file ends inside a multi-byte character
                self.utf8_error_offset = self.size - len(self._decoder.getstate()[0])
        return UploadInspection(
            sha256=self._digest.hexdigest(),
            size_bytes=self.size,
            head=self.head,
            has_nul=self.has_nul,
            odd_quotes=self.quotes % 2 == 1,
            utf8_error_offset=self.utf8_error_offset,
        )


class DatasetUploadHandler(TemporaryFileUploadHandler):
    """Streams each uploaded file to a temporary file on disk while inspecting it (see module doc).

    Install it before the request body is read: ``request.upload_handlers = [DatasetUploadHandler(request)]``.
    Past ``DATASET_MAX_UPLOAD_BYTES`` it stops reading and raises PayloadTooLarge (413).
    """

    chunk_size = CHUNK_SIZE

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        limit = max_upload_bytes()
        if content_length and content_length > limit + MULTIPART_OVERHEAD_BYTES:
            raise too_large(limit)
        return super().handle_raw_input(input_data, META, content_length, boundary, encoding)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.inspector = UploadInspector(limit=max_upload_bytes())

    def receive_data_chunk(self, raw_data, start):
        try:
            self.inspector.feed(raw_data)
        except PayloadTooLarge:
            self.file.close()  # deletes the temporary file
            raise
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        uploaded.inspection = self.inspector.finish()
        return uploaded


def use_dataset_upload_handler(request) -> None:
    """Make ``request`` (a Django HttpRequest, body not yet read) stream its files through DatasetUploadHandler."""
    try:
        request.upload_handlers = [DatasetUploadHandler(request)]
    except AttributeError:  # something read the body already: local_upload() still hashes and checks the file
        logger.warning("The request body was read before the dataset upload handler could be installed.")


@contextmanager
def local_upload(file: UploadedFile) -> Iterator[tuple[Path, UploadInspection]]:
    """The upload as a file on local disk, with its inspection.

    A file DatasetUploadHandler received is used where it lies; any other file (in memory, or from
    code) is copied to a temporary file chunk by chunk, inspected on the way, and removed afterwards.
    """
    inspection = getattr(file, "inspection", None)
    path = getattr(file, "temporary_file_path", None)
    if inspection is not None and path is not None:
        yield Path(path()), inspection
        return
    inspector = UploadInspector(limit=max_upload_bytes())
    with tempfile.NamedTemporaryFile(
        prefix="maestro-upload-", suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR
    ) as copy:
        if hasattr(file, "seek"):
            file.seek(0)
        for chunk in file.chunks(CHUNK_SIZE) if hasattr(file, "chunks") else iter(lambda: file.read(CHUNK_SIZE), b""):
            inspector.feed(chunk)
            copy.write(chunk)
        copy.flush()
        yield Path(copy.name), inspector.finish()
