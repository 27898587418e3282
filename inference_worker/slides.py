"""Where a request's slide comes from.

A request names its slide by file name, by Orthanc instance or series, or
both. `SlideSource.open(request)` tries, in order:

1. the file name, under the worker's storage directory (SVS_STORAGE_DIR);
   for a slide uploaded to the platform that is not there, the platform
   itself (streamed into a temporary directory, at most
   SLIDE_DOWNLOAD_MAX_MB);
2. the Orthanc instance (or series): a file name its metadata
   (`SlideFile`) or tags (ContainerIdentifier, ImageComments,
   SeriesDescription, StudyDescription) give, again under the storage
   directory; a full path there (as the scanner's machine saw it) counts by
   its last part;
3. the Orthanc series itself, when it is a DICOM WSI: its files are fetched
   into a temporary directory, which OpenSlide opens and which is removed
   after the analysis. A worker then needs no shared disk at all.

Names come from the server and from Orthanc, so none may reach a file
outside the storage directory: see `find_slide_file`.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .orthanc import Orthanc, OrthancNotFound, OrthancUnavailable, orthanc_id_check

log = logging.getLogger(__name__)

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
REFERENCE_METADATA = "SlideFile"
REFERENCE_TAGS = ("ContainerIdentifier", "ImageComments", "SeriesDescription", "StudyDescription")
# A tag's value is taken for a file name only with a slide's extension: a
# description such as "H&E, left breast" is not one.
SLIDE_EXTENSIONS = (".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif")


class SlideNotFound(Exception):
    """The request's slide is not reachable by this worker."""


class SlideUnavailable(Exception):
    """The slide's source (Orthanc) cannot be reached now: worth trying later."""


class SlideSourceMissing(SlideUnavailable, SlideNotFound):
    """This worker lacks the source the request's slide needs (no
    ORTHANC_URL for an Orthanc series, no SVS_STORAGE_DIR for a file): the
    slide is not found here, and a worker that has the source may find it.
    A SlideUnavailable, so the worker hands the request back rather than
    fail it."""


@dataclass(frozen=True)
class Located:
    """Where a request's slide is: a file, or the Orthanc DICOM WSI
    instances to fetch. `how` says which, for the log."""

    path: Path | None = None
    dicom_instances: tuple[str, ...] = ()
    # An uploaded slide to download from the platform: (request id, file name).
    upload: tuple[str, str] | None = None
    how: str = ""


@dataclass
class SlideSource:
    storage_dir: Path | None = None
    orthanc: Orthanc | None = None
    download_dir: Path | None = None
    max_download_bytes: int = 20 * 2**30
    # The platform (inference_worker.client.PathologyClient), for slides
    # uploaded to it that this machine's storage does not have.
    platform: object | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """What this worker can open, as pending-requests' `sources` names
        it: "file" (SVS_STORAGE_DIR), "orthanc" (ORTHANC_URL), "upload"
        (slides uploaded to the platform, fetched from it)."""
        return (
            *(("file",) if self.storage_dir is not None else ()),
            *(("orthanc",) if self.orthanc is not None else ()),
            *(("upload",) if self.platform is not None else ()),
        )

    @contextmanager
    def open(self, request: Mapping, progress: Callable[[int, str], object] | None = None) -> Iterator[Path]:
        """A path OpenSlide opens for the request's slide, valid inside the
        `with`. Raises SlideNotFound (saying everything that was tried),
        SlideUnavailable, or OrthancError (e.g. credentials refused)."""
        located = self.locate(request)
        log.info("slide: %s", located.how)
        if located.path is not None:
            yield located.path
            return
        with tempfile.TemporaryDirectory(prefix="slide-", dir=self.download_dir) as tmp:
            if located.upload is not None:
                yield self._download(*located.upload, Path(tmp), progress)
            else:
                yield self._fetch(located.dicom_instances, Path(tmp), progress)

    def locate(self, request: Mapping) -> Located:
        name = str(request.get("slide_file") or "").strip()
        instance_id = str(request.get("orthanc_instance_id") or "").strip()
        series_id = str(request.get("orthanc_series_id") or "").strip()
        tried: list[str] = []
        if name:
            try:
                return Located(path=self._file(name), how=f"{name} in the slide storage directory")
            except SlideNotFound as exc:
                if request.get("slide_uploaded") and self.platform is not None and request.get("request_id"):
                    # Not on this machine's disk: the platform has it.
                    return Located(
                        upload=(str(request["request_id"]), _last_part(name)),
                        how=f"{name}, uploaded to the platform, downloaded from it",
                    )
                if not (instance_id or series_id):
                    raise
                tried.append(str(exc))
        if not (instance_id or series_id):
            raise SlideNotFound("the request names no slide (no slide file, Orthanc instance or series)")
        if self.orthanc is None:
            tried.append("ORTHANC_URL is not set, so the request's Orthanc instance or series cannot be looked up")
            raise SlideSourceMissing("; ".join(tried))
        try:
            return self._from_orthanc(instance_id, series_id, tried)
        except OrthancNotFound as exc:
            raise SlideNotFound("; ".join([*tried, str(exc)])) from None
        except OrthancUnavailable as exc:
            raise SlideUnavailable(str(exc)) from None

    def _file(self, name: str) -> Path:
        if self.storage_dir is None:
            raise SlideSourceMissing("SVS_STORAGE_DIR is not set: this machine has no slide storage")
        return find_slide_file(name, storage_dir=self.storage_dir)

    def _from_orthanc(self, instance_id: str, series_id: str, tried: list[str]) -> Located:
        instances = None  # the series' instance ids, once fetched
        if instance_id:
            instance_id = orthanc_id_check(instance_id, "orthanc_instance_id")
            series_id = self.orthanc.instance(instance_id)["ParentSeries"]
            first = instance_id
        else:
            series_id = orthanc_id_check(series_id, "orthanc_series_id")
            instances = self.orthanc.series(series_id).get("Instances") or []
            if not instances:
                raise OrthancNotFound(f"Orthanc series {series_id} holds no instances")
            first = instances[0]
        metadata = {first: self.orthanc.instance_metadata(first)}

        for name, where in self._references(first, metadata[first]):
            try:
                path = self._file(name)
            except SlideNotFound as exc:
                tried.append(f"{where}: {exc}")
                continue
            return Located(path=path, how=f"{path.name} in the slide storage directory, named by {where}")

        if instances is None:
            instances = self.orthanc.series(series_id).get("Instances") or []
        wsi = self._wsi_instances(instances, metadata)
        if wsi:
            return Located(dicom_instances=wsi, how=f"DICOM WSI series {series_id} ({len(wsi)} files) from Orthanc")
        tried.append(f"Orthanc series {series_id} is not a DICOM WSI and names no slide file this worker has")
        raise OrthancNotFound("; ".join(tried))

    def _references(self, instance_id: str, metadata: Mapping[str, str]) -> Iterator[tuple[str, str]]:
        """(file name, where it was found) pairs: the metadata first, then tags."""
        value = str(metadata.get(REFERENCE_METADATA) or "").strip()
        if value:
            yield _last_part(value), f"Orthanc metadata {REFERENCE_METADATA} of instance {instance_id}"
        tags = self.orthanc.instance_tags(instance_id)
        for tag in REFERENCE_TAGS:
            value = tags.get(tag)
            if isinstance(value, str) and value.strip().lower().endswith(SLIDE_EXTENSIONS):
                yield _last_part(value.strip()), f"DICOM tag {tag} of instance {instance_id}"

    def _wsi_instances(self, instances: list[str], known: dict[str, Mapping]) -> tuple[str, ...]:
        """Those of `instances` that are VL Whole Slide Microscopy images, in
        series order; `known` holds metadata already fetched, by instance id."""
        rows = []
        for instance_id in instances:
            metadata = known.get(instance_id) or self.orthanc.instance_metadata(instance_id)
            if metadata.get("SopClassUid") == WSI_SOP_CLASS:
                rows.append((int(metadata.get("IndexInSeries") or 0), instance_id))
        return tuple(instance_id for _, instance_id in sorted(rows))

    def _download(self, request_id: str, name: str, directory: Path, progress) -> Path:
        """Download the uploaded slide of a held request from the platform
        into `directory`, at most max_download_bytes."""
        from .client import ServerUnavailable, SlideTooLarge, WorkerAPIError

        def arrived(size: int) -> None:
            if progress is not None:
                progress(0, f"downloading the slide from the platform: {size >> 20} MiB")

        path = directory / (name if name not in ("", ".", "..") else "slide")
        try:
            size = self.platform.download_slide(request_id, path, max_bytes=self.max_download_bytes, on_chunk=arrived)
        except SlideTooLarge as exc:
            raise SlideNotFound(str(exc)) from None
        except ServerUnavailable as exc:
            raise SlideUnavailable(str(exc)) from None
        except WorkerAPIError as exc:
            raise SlideNotFound(f"the platform did not send the uploaded slide: {exc}") from None
        log.info("downloaded the uploaded slide, %d MiB", size >> 20)
        return path

    def _fetch(self, instances: tuple[str, ...], directory: Path, progress) -> Path:
        """Download the instances into `directory`; the first file's path
        (OpenSlide finds the others of the series beside it)."""
        budget = self.max_download_bytes
        paths = []
        for n, instance_id in enumerate(instances, start=1):

            def arrived(size: int, n=n) -> None:
                if progress is not None:
                    progress(0, f"fetching the slide from Orthanc: file {n}/{len(instances)}, {size >> 20} MiB")

            path = directory / f"{n:04d}.dcm"
            try:
                budget -= self.orthanc.download(instance_id, path, max_bytes=budget, on_chunk=arrived)
            except OrthancNotFound as exc:
                raise SlideNotFound(str(exc)) from None
            except OrthancUnavailable as exc:
                raise SlideUnavailable(str(exc)) from None
            paths.append(path)
        log.info("fetched %d DICOM files, %d MiB", len(paths), (self.max_download_bytes - budget) >> 20)
        return paths[0]


def slide_source(
    *,
    storage_dir: str = "",
    orthanc_url: str = "",
    orthanc_user: str = "",
    orthanc_password: str = "",
    download_dir: str = "",
    max_download_mb: int = 20 * 1024,
    platform=None,
) -> SlideSource:
    """A SlideSource from settings as the worker's config holds them ("" = not set)."""
    return SlideSource(
        storage_dir=Path(storage_dir) if storage_dir else None,
        orthanc=Orthanc(orthanc_url, orthanc_user, orthanc_password) if orthanc_url else None,
        download_dir=Path(download_dir) if download_dir else None,
        max_download_bytes=max_download_mb * 2**20,
        platform=platform,
    )


def _last_part(value: str) -> str:
    """The file name at the end of a path written with / or \\ separators."""
    return re.split(r"[/\\]", value.strip())[-1]


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
