"""`NoOpFileStaging`: `file` URLs are on a file system the workers share, so nothing moves."""

from __future__ import annotations

from typing import ClassVar

from parlay.staging.base import Staging


class NoOpFileStaging(Staging):
    """Plain paths and `file://` URLs: used where they are."""

    schemes: ClassVar[tuple[str, ...]] = ("file",)
