"""Where a request's slide comes from.

A request names its slide by file name only; the worker looks it up under
its own storage directory and never anywhere else, since the name comes
from the server and must not be able to reach other files of the machine.

Fetching a slide from Orthanc (by `orthanc_instance_id`) is not done yet:
it belongs here, as another lookup tried when no file name is given.
"""

import os
from collections.abc import Iterator
from pathlib import Path


class SlideNotFound(Exception):
    """The request's slide is not reachable by this worker."""


def find_slide_file(name: str, *, storage_dir: Path) -> Path:
    """The file called `name` under `storage_dir`: its direct child first,
    then the first match (directories in sorted order) of a recursive search by exact
    name. Refuses names that are empty, '.', '..', absolute or hold a path
    separator, and files whose real path (after symlinks) leaves
    `storage_dir`. Raises SlideNotFound saying why."""
    if not isinstance(name, str) or not name.strip():
        raise SlideNotFound("the request names no slide file")
    if name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or Path(name).is_absolute():
        raise SlideNotFound(f"slide file {name!r} is not a plain file name")
    root = Path(storage_dir).resolve()
    if not root.is_dir():
        raise SlideNotFound(f"the slide storage directory {str(storage_dir)!r} does not exist")

    refused = False
    for candidate in _candidates(root, name):
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            refused = True
            continue
        if resolved.is_file():
            return resolved
    if refused:
        raise SlideNotFound(f"slide file {name!r} points outside the slide storage directory")
    raise SlideNotFound(f"slide file {name!r} not found in the slide storage directory")


def _candidates(root: Path, name: str) -> Iterator[Path]:
    yield root / name
    # An exact-name walk, not a glob: a name like "*.svs" must match only
    # itself. os.walk does not follow symlinked directories.
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        if name in files and Path(directory) != root:
            yield Path(directory) / name
