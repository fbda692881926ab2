"""Where a download goes: the destination path is checked before any byte is asked for.

A recording can be large; finding out after the whole download that the path
names a directory, or a folder that does not exist, wastes it and surfaces a
raw ``OSError`` from deep inside. The temporary file the download goes to is
created here, beside the target, so an unwritable folder is refused up front too.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import IO

from sayna._errors import SaynaValidationError

__all__ = ["open_part_file"]


def open_part_file(destination: str | os.PathLike[str]) -> tuple[pathlib.Path, IO[bytes]]:
    """The target path and an open temporary file beside it, or :class:`SaynaValidationError`."""
    target = pathlib.Path(destination)
    if target.is_dir():
        raise SaynaValidationError(
            f"destination {str(target)!r} is a directory: give a file path inside it",
            field="destination",
        )
    folder = target.parent
    if not folder.is_dir():
        raise SaynaValidationError(
            f"destination folder {str(folder)!r} does not exist", field="destination"
        )
    try:
        part = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed into place by the caller
            dir=folder, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as exc:
        raise SaynaValidationError(
            f"cannot write to destination folder {str(folder)!r}: {exc.strerror or exc}",
            field="destination",
        ) from exc
    return target, part
