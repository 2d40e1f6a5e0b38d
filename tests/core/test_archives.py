import io
import tarfile

import pytest

from apps.core.archives import UnsafeArchive, archive_directory, extract_archive_safely, verify_sha256


def test_archive_round_trip_with_verified_hash(tmp_path):
    source = tmp_path / "predictor"
    (source / "models").mkdir(parents=True)
    (source / "models" / "model.pkl").write_bytes(b"weights")
    archive = tmp_path / "predictor.tar.gz"
    digest = archive_directory(source, archive)
    verify_sha256(archive, digest)
    extract_archive_safely(archive, tmp_path / "out")
    assert (tmp_path / "out" / "models" / "model.pkl").read_bytes() == b"weights"


def test_changed_bytes_fail_verification(tmp_path):
    source = tmp_path / "predictor"
    source.mkdir()
    (source / "a.txt").write_text("a")
    archive = tmp_path / "p.tar.gz"
    digest = archive_directory(source, archive)
    archive.write_bytes(archive.read_bytes() + b"tampered")
    with pytest.raises(UnsafeArchive, match="hash mismatch"):
        verify_sha256(archive, digest)


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt"])
def test_entries_outside_the_folder_are_refused(tmp_path, name):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(UnsafeArchive):
        extract_archive_safely(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_link_pointing_outside_is_refused(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(UnsafeArchive):
        extract_archive_safely(archive, tmp_path / "out")
