"""`zip:/path/archive.zip/member` files: members of zip archives on the workers' file system."""

from __future__ import annotations

from typing import Any, ClassVar

from parlay.errors import StagingError
from parlay.files import File
from parlay.staging.transfer import TransferStaging
from parlay_staging_zip import archive
from parlay_staging_zip.urls import ZipURLError, split


class ZipStaging(TransferStaging):
    """Stages in a member of an archive (extracting it) and stages out into one (adding it, or replacing a
    member of that name; the archive and its folder are made if missing)."""

    schemes: ClassVar[tuple[str, ...]] = ("zip",)

    def download(self, file: File, path: str) -> None:
        archive.extract(*split(file), path)

    def upload(self, path: str, file: File) -> None:
        archive_path, member = split(file)
        archive.add(archive_path, member, path)

    def version(self, file: File) -> str | None:
        """The member's CRC and size."""
        return archive.version(*split(file))

    def stage_in(self, dm: Any, executor: str, file: File, parent_fut: Any) -> Any:
        _check(file, "in")
        return super().stage_in(dm, executor, file, parent_fut)

    def stage_out(self, dm: Any, executor: str, file: File, app_fu: Any) -> Any:
        _check(file, "out")
        return super().stage_out(dm, executor, file, app_fu)


def _check(file: File, direction: str) -> None:
    """Refuse, when the task is submitted, a URL that names no member (such as one with a host)."""
    try:
        split(file)
    except ZipURLError as exc:
        raise StagingError(file.url, direction, str(exc)) from None


class ZipFileStaging(ZipStaging):
    """Parsl's name: each transfer is a task of its own on the app's executor, whose workers must share
    `working_dir`."""

    in_task = False


class ZipInTaskStaging(ZipStaging):
    """Transfers run on the app's worker, around the app; a node extracts a member version once."""

    in_task = True
