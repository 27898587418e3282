"""The pathology HTTP API as the worker sees it: list, claim, report,
fail, complete. Network errors and 5xx answers are retried a bounded number
of times with exponential backoff and jitter; a 409 means the request is no
longer this worker's (taken, cancelled, finished); any other 4xx is a
mistake of configuration (wrong key, wrong URL) and raised at once."""

import json
import logging
import random
import time
from collections.abc import Callable

import requests

log = logging.getLogger("inference_worker")

_CHUNK = 1 << 20


class WorkerAPIError(Exception):
    """The platform refused a call (4xx other than 409) or answered nonsense."""

    def __init__(self, message: str, *, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class ServerUnavailable(WorkerAPIError):
    """The platform could not be reached, or kept answering 5xx, after every retry."""


class SlideTooLarge(WorkerAPIError):
    """The uploaded slide is larger than SLIDE_DOWNLOAD_MAX_MB allows."""


class RequestLost(Exception):
    """409: this worker does not (or no longer) hold the request: another
    worker claimed it, it was cancelled, or it has finished."""

    def __init__(self, message: str, *, code: str = "", current_status: str = ""):
        super().__init__(message)
        self.code = code
        self.current_status = current_status


def _type(image: bytes) -> str:
    return "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"


def _extension(image: bytes) -> str:
    return "png" if image.startswith(b"\x89PNG") else "jpg"


def _error_of(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {"message": str(body)[:200]}


class PathologyClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        connect_timeout: float = 5.0,
        session: requests.Session | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        host: str = "",
        device: str = "",
        version: str = "",
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.session = session or requests.Session()
        self.session.headers["X-API-Key"] = api_key
        for name, value in (("Host", host), ("Device", device), ("Version", version)):
            if value:
                self.session.headers[f"X-Worker-{name}"] = value

    # The protocol

    def pending(self, limit: int = 10, wait: int = 0, sources=None) -> list[dict]:
        """Claimable requests; `wait` long-polls that many seconds; `sources`
        ("file", "orthanc", "upload") asks only for requests whose slide this
        worker can open (None: all)."""
        params = {"limit": limit, "wait": wait}
        if sources is not None:
            params["sources"] = ",".join(sources)
        body = self._call("GET", "pending-requests/", params=params, read_timeout=self.timeout + wait)
        rows = body.get("requests")
        if not isinstance(rows, list):
            raise WorkerAPIError(f"pending-requests answered without a list of requests: {str(body)[:200]}")
        return rows

    def claim(self, request_id: str) -> bool:
        """True when this worker now holds the request; False when another
        worker was first or it is no longer pending."""
        try:
            self._call("POST", f"update-status/{request_id}/", json={"status": "processing", "message": "claimed"})
        except RequestLost:
            return False
        return True

    def progress(self, request_id: str, percent: int, message: str = "") -> None:
        """Report progress, which renews the lease. Raises RequestLost when the
        request was cancelled or taken."""
        percent = max(0, min(100, int(percent)))
        self._call(
            "POST",
            f"update-status/{request_id}/",
            json={"status": "processing", "progress": percent, "message": message[:2000]},
        )

    def fail(self, request_id: str, message: str) -> None:
        """End a held request as failed with `message` as its error."""
        self._call("POST", f"update-status/{request_id}/", json={"status": "failed", "message": message[:2000]})

    def hand_back(self, request_id: str, message: str) -> None:
        """Give a held request back to the queue (it fails instead once it
        has used its attempts), saying why in `message`."""
        self._call("POST", f"update-status/{request_id}/", json={"status": "pending", "message": message[:2000]})

    def complete(
        self,
        request_id: str,
        result: dict,
        heatmap_png: bytes | None,
        *,
        thumbnail: bytes | None = None,
        tiles: list[bytes] | tuple[bytes, ...] = (),
    ) -> dict:
        """Upload the result, the heatmap, the slide's thumbnail and the top
        regions' tiles (multipart: images need no base64, which would grow
        them by a third); returns the server's answer (`stored` false when
        the same completion had already arrived)."""
        files = []
        if heatmap_png:
            files.append(("heatmap", ("heatmap.png", heatmap_png, "image/png")))
        if thumbnail:
            files.append(("thumbnail", (f"thumbnail.{_extension(thumbnail)}", thumbnail, _type(thumbnail))))
        for n, tile in enumerate(tiles):
            files.append(("tiles", (f"tile-{n}.{_extension(tile)}", tile, _type(tile))))
        if not files:
            return self._call("POST", f"complete-request/{request_id}/", json={"result": result})
        data = {"result": json.dumps(result)}
        return self._call("POST", f"complete-request/{request_id}/", data=data, files=files)

    def download_slide(
        self, request_id: str, dest, *, max_bytes: int, on_chunk: Callable[[int], object] | None = None
    ) -> int:
        """Write the uploaded slide of a request this worker holds to `dest`,
        streamed; returns its size. Refuses a slide over `max_bytes`
        (SLIDE_DOWNLOAD_MAX_MB) before and while it arrives: SlideTooLarge.
        Raises RequestLost (409), WorkerAPIError (404: no uploaded slide),
        ServerUnavailable."""
        url = f"{self.base_url}/slide/{request_id}/"
        try:
            with self.session.get(url, timeout=(self.connect_timeout, self.timeout), stream=True) as response:
                if response.status_code >= 500:
                    raise ServerUnavailable(f"The platform could not send the slide: HTTP {response.status_code}")
                if response.status_code != 200:
                    self._answer(response, "GET", f"slide/{request_id}/")
                announced = int(response.headers.get("Content-Length") or 0)
                if announced > max_bytes:
                    raise SlideTooLarge(f"the slide is {announced >> 20} MiB, over SLIDE_DOWNLOAD_MAX_MB")
                size = 0
                with open(dest, "wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise SlideTooLarge(
                                f"the slide is larger than {max_bytes >> 20} MiB (SLIDE_DOWNLOAD_MAX_MB)"
                            )
                        out.write(chunk)
                        if on_chunk is not None:
                            on_chunk(size)
                return size
        except requests.RequestException as exc:
            raise ServerUnavailable(f"The platform at {self.base_url} failed while sending the slide: {exc}") from None

    # Transport

    def _call(self, method: str, path: str, *, read_timeout: float | None = None, **kwargs) -> dict:
        url = f"{self.base_url}/{path}"
        timeout = (self.connect_timeout, read_timeout or self.timeout)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                # The first retry goes at once: the usual cause is a keep-alive
                # connection the server closed while we were idle.
                if attempt > 1:
                    delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 2))
                    time.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret
                log.warning("%s %s failed (%s); retry %d of %d", method, path, problem, attempt, self.retries)
            try:
                response = self.session.request(method, url, timeout=timeout, **kwargs)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code} {_error_of(response).get('message', '')}".strip()
                continue
            return self._answer(response, method, path)
        raise ServerUnavailable(
            f"The platform at {self.base_url} could not be reached for {method} {path} "
            f"after {self.retries + 1} attempts: {problem}"
        )

    def _answer(self, response: requests.Response, method: str, path: str) -> dict:
        if response.status_code == 409:
            error = _error_of(response)
            raise RequestLost(
                error.get("message", "The request is no longer held by this worker."),
                code=error.get("code", ""),
                current_status=error.get("current_status", ""),
            )
        if response.status_code >= 400:
            error = _error_of(response)
            hint = {
                401: " (check WORKER_API_KEY)",
                403: " (WORKER_API_KEY must be a key with the `worker` scope)",
                404: " (check DJANGO_API_URL: it should end in /api/pathology)",
            }.get(response.status_code, "")
            raise WorkerAPIError(
                f"{method} {path} was refused: HTTP {response.status_code} {error.get('message', '')}{hint}",
                status=response.status_code,
                code=error.get("code", ""),
            )
        try:
            body = response.json()
        except ValueError:
            raise WorkerAPIError(
                f"{method} {path} answered something other than JSON: {response.text[:200]!r}",
                status=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise WorkerAPIError(f"{method} {path} answered {str(body)[:200]}", status=response.status_code)
        return body
