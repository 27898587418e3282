"""A small client for the parts of Orthanc's REST API the worker reads:
an instance, its metadata and tags, a series' instances, and an instance's
DICOM file. HTTP basic auth when a user is configured.

Errors say what the worker should do: `OrthancUnavailable` (not reachable,
timed out, 5xx) is worth retrying later; `OrthancError` (credentials
refused, unexpected answers) needs someone to look; `OrthancNotFound`:
Orthanc has no such resource."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import requests

# Orthanc's identifiers are SHA-1 digests in five dash-separated groups.
ORTHANC_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{8}){4}")
_CHUNK = 1 << 20


class OrthancError(Exception):
    """Orthanc answered, but not usefully (credentials refused, bad reply)."""


class OrthancNotFound(OrthancError):
    """Orthanc has no such resource, or the id is not an Orthanc id."""


class OrthancUnavailable(OrthancError):
    """Orthanc could not be reached, timed out or failed (5xx): try later."""


def orthanc_id_check(value: str, what: str) -> str:
    """`value` when it is an Orthanc identifier; OrthancNotFound otherwise
    (the id is put into URLs, so nothing else may pass)."""
    value = (value or "").strip()
    if not ORTHANC_ID.fullmatch(value):
        raise OrthancNotFound(f"{what} {value!r} is not an Orthanc identifier")
    return value


class Orthanc:
    def __init__(
        self,
        url: str,
        user: str = "",
        password: str = "",
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        session: requests.Session | None = None,
    ):
        self.url = url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or requests.Session()
        if user:
            self.session.auth = (user, password)

    def instance(self, instance_id: str) -> dict:
        return self._json(f"/instances/{instance_id}", what=f"instance {instance_id}")

    def instance_metadata(self, instance_id: str) -> dict[str, str]:
        return self._json(f"/instances/{instance_id}/metadata", {"expand": ""}, what=f"instance {instance_id}")

    def instance_tags(self, instance_id: str) -> dict:
        return self._json(f"/instances/{instance_id}/tags", {"simplify": ""}, what=f"instance {instance_id}")

    def series(self, series_id: str) -> dict:
        return self._json(f"/series/{series_id}", what=f"series {series_id}")

    def download(
        self, instance_id: str, dest: Path, *, max_bytes: int, on_chunk: Callable[[int], object] | None = None
    ) -> int:
        """Write the instance's DICOM file to `dest`; returns its size.
        Refuses (OrthancError) a file over `max_bytes`; `on_chunk(bytes so
        far)` is called as it arrives (and may raise to stop it)."""
        what = f"instance {instance_id}"
        try:
            with self.session.get(
                f"{self.url}/instances/{instance_id}/file", timeout=self.timeout, stream=True
            ) as response:
                self._check(response, what)
                size = 0
                with open(dest, "wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise OrthancError(f"Orthanc {what} is larger than the {max_bytes} bytes allowed")
                        out.write(chunk)
                        if on_chunk is not None:
                            on_chunk(size)
                return size
        except requests.RequestException as exc:
            raise OrthancUnavailable(f"Orthanc at {self.url} failed while sending {what}: {exc}") from None

    def _json(self, path: str, params: dict | None = None, *, what: str):
        try:
            response = self.session.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise OrthancUnavailable(f"Orthanc at {self.url} is not reachable: {exc}") from None
        self._check(response, what)
        try:
            return response.json()
        except ValueError:
            raise OrthancError(f"Orthanc at {self.url} answered {path} with something other than JSON") from None

    def _check(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status == 404:
            raise OrthancNotFound(f"Orthanc has no {what}")
        if status in (401, 403):
            raise OrthancError(f"Orthanc at {self.url} refused the credentials (HTTP {status}): check ORTHANC_USER")
        if status >= 500:
            raise OrthancUnavailable(f"Orthanc at {self.url} failed (HTTP {status}) on {what}")
        if status >= 400:
            raise OrthancError(f"Orthanc at {self.url} refused the request for {what} (HTTP {status})")
