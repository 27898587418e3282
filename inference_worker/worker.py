"""The worker loop: long-poll for requests, claim one (candidates in a
random order within a priority, so that workers do not all race for the
first), analyse it while a heartbeat thread renews the lease, then complete
or fail it. A request lost meanwhile (cancelled, or taken after the lease
ran out) is dropped quietly."""

import dataclasses
import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .client import PathologyClient, RequestLost, ServerUnavailable, WorkerAPIError
from .config import WorkerConfig
from .slides import SlideUnavailable

log = logging.getLogger("inference_worker")

ProgressCallback = Callable[[int, str], None]


class Analyzer(Protocol):
    # What the analyzer can open ("file", "orthanc", "upload"), which the
    # worker tells pending-requests so that it is offered only those; None
    # (or no attribute): everything.
    sources: tuple[str, ...] | None

    def analyze(self, request: dict, progress: ProgressCallback) -> dict:
        """Analyse the slide of `request` (a row of pending-requests); return
        {"result": {...}, "heatmap_png": bytes, and optionally "thumbnail_jpeg":
        bytes, "tiles_jpeg": [bytes]} (see pipeline.Pipeline.run). Calls `progress(percent,
        message)` now and then; that call raises RequestLost once the request
        is no longer this worker's, which ends the analysis."""


class PipelineAnalyzer:
    """The CLAM pipeline on the request's slide, found as slides.SlideSource
    says (SVS_STORAGE_DIR, Orthanc). The pipeline (torch, openslide) is
    imported and its model loaded at the first request; its own settings
    (FEATURE_EXTRACTOR, CLASS_NAMES, ...) come from the environment,
    MODEL_PATH, DEVICE, BATCH_SIZE and HEATMAP_MAX_SIDE from the worker's config."""

    def __init__(self, config: WorkerConfig, client: PathologyClient | None = None):
        self.config = config
        # The platform, for the slides uploaded to it (see slides.SlideSource).
        self.client = client
        self._pipeline = None
        self._slides = None

    @property
    def slide_source(self):
        from . import slides

        if self._slides is None:
            cfg = self.config
            self._slides = slides.slide_source(
                storage_dir=cfg.svs_storage_dir,
                orthanc_url=cfg.orthanc_url,
                orthanc_user=cfg.orthanc_user,
                orthanc_password=cfg.orthanc_password,
                download_dir=cfg.slide_download_dir,
                max_download_mb=cfg.slide_download_max_mb,
                platform=self.client,
            )
        return self._slides

    @property
    def sources(self) -> tuple[str, ...]:
        return self.slide_source.sources

    def analyze(self, request: dict, progress: ProgressCallback) -> dict:
        from . import pipeline

        with self.slide_source.open(request, progress) as path:
            if self._pipeline is None:
                progress(1, "loading the model")
                base, allow_untrained = pipeline.config_from_env()
                model_path = Path(self.config.model_path) if self.config.model_path else None
                settings = dataclasses.replace(
                    base,
                    model_path=model_path,
                    device=self.config.device,
                    batch_size=self.config.batch_size,
                    heatmap_max_side=self.config.heatmap_max_side,
                )
                self._pipeline = pipeline.Pipeline(settings, allow_untrained=allow_untrained)
            return self._pipeline.run(path, progress=progress)


class _ShuttingDown(Exception):
    """Raised in the analysis when the worker is told to stop at once."""


class _StopNow(BaseException):
    """Raised by the signal handler into a worker that holds nothing (it is
    in its long poll, or pausing): there is nothing to finish, so it stops
    at once instead of at the poll's end. A BaseException, so that no
    `except Exception` on the way (requests, urllib3) takes it for an error."""


class _Heartbeat(threading.Thread):
    """Sends the analysis' latest progress every `interval` seconds, which
    renews the lease; notes when the request is lost."""

    def __init__(self, client: PathologyClient, request_id: str, interval: float):
        super().__init__(name=f"heartbeat-{request_id[:8]}", daemon=True)
        self.client = client
        self.request_id = request_id
        self.interval = interval
        self.state = (0, "started")
        self.lost: RequestLost | None = None
        self.finished = threading.Event()

    def report(self, percent: int, message: str) -> None:
        self.state = (percent, message)  # one tuple assignment: atomic for the reader

    def run(self) -> None:
        sent = None
        while not self.finished.wait(self.interval):
            percent, message = self.state
            try:
                self.client.progress(self.request_id, percent, message)
            except RequestLost as exc:
                self.lost = exc
                return
            except WorkerAPIError as exc:
                log.warning("request %s: progress not delivered: %s", self.request_id, exc)
                continue
            if (percent, message) != sent:
                log.info("request %s: %d%% %s", self.request_id, percent, message)
                sent = (percent, message)


class Worker:
    def __init__(self, config: WorkerConfig, client: PathologyClient, analyzer: Analyzer):
        self.config = config
        self.client = client
        self.analyzer = analyzer
        self.stopping = threading.Event()
        self.abandoning = threading.Event()
        # True while the worker holds no request and is waiting (long poll,
        # pause): a signal then stops it at once.
        self._idle = False

    def stop(self, *_args) -> None:
        """Claim nothing more; the request in hand is finished first. A
        second stop hands the request in hand back at its next progress
        report instead, for another worker to take."""
        if self.stopping.is_set():
            if not self.abandoning.is_set():
                log.info("stopping now: the current request is handed back")
            self.abandoning.set()
            return
        log.info("stopping after the current request (stop again to hand it back)")
        self.stopping.set()

    def _on_signal(self, *_args) -> None:
        self.stop()
        if self._idle:
            raise _StopNow

    def run_forever(self) -> None:
        """Serve requests until stop() (SIGTERM, SIGINT). Holding nothing, it
        stops at once (its long poll is abandoned: listing claims nothing);
        holding a request, as stop() says. An unreachable platform is waited
        for; a refused key or URL raises WorkerAPIError."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {number: signal.signal(number, self._on_signal) for number in (signal.SIGTERM, signal.SIGINT)}
        log.info("worker %s polling %s", self.config.host, self.client.base_url)
        pause = self.config.poll_interval
        try:
            while not self.stopping.is_set():
                try:
                    self.run_once()
                except ServerUnavailable as exc:
                    log.error("%s; waiting %.0f s", exc, pause)
                    self._wait(pause)
                    pause = min(pause * 2, 300)
                    continue
                pause = self.config.poll_interval
        except _StopNow:
            pass
        finally:
            self._idle = False
            for number, handler in previous.items():
                signal.signal(number, handler)
        log.info("worker stopped")

    def _wait(self, seconds: float) -> None:
        """Pause, holding nothing: a signal ends the pause and the worker."""
        self._idle = True
        try:
            self.stopping.wait(seconds)
        finally:
            self._idle = False

    def run_once(self) -> bool:
        """Take and process at most one request; True when one was processed."""
        if self.stopping.is_set():
            return False
        wait = self.config.long_poll_wait
        self._idle = True
        try:
            rows = self.client.pending(
                limit=self.config.claim_limit, wait=wait, sources=getattr(self.analyzer, "sources", None)
            )
        finally:
            # From here on a claim may be under way: a signal no longer interrupts.
            self._idle = False
        if not rows:
            if wait <= 0:
                self._wait(self.config.poll_interval)
            return False
        # Random order, highest priority first: sort() is stable.
        random.shuffle(rows)
        rows.sort(key=lambda row: -int(row.get("priority") or 0))
        for row in rows:
            if self.stopping.is_set():
                return False
            request_id = str(row["request_id"])
            if self.client.claim(request_id):
                self._process(row)
                return True
            log.debug("request %s: taken by another worker", request_id)
        return False

    def _process(self, request: dict) -> None:
        request_id = str(request["request_id"])
        started = time.monotonic()
        log.info("request %s: claimed (slide %s)", request_id, request.get("slide_file") or "-")
        heartbeat = _Heartbeat(self.client, request_id, self.config.heartbeat_seconds)

        def progress(percent: int, message: str = "") -> None:
            if heartbeat.lost is not None:
                raise heartbeat.lost
            if self.abandoning.is_set():
                raise _ShuttingDown("the worker was stopped during the analysis")
            heartbeat.report(int(percent), str(message))

        heartbeat.start()
        try:
            output = self.analyzer.analyze(request, progress)
        except RequestLost as exc:
            self._dropped(request_id, exc, started)
            return
        except (SlideUnavailable, _ShuttingDown) as exc:
            heartbeat.finished.set()
            heartbeat.join()
            self._hand_back(request_id, str(exc), started)
            return
        except Exception as exc:  # any analysis error ends the request as failed
            heartbeat.finished.set()  # no report may renew the lease after `failed`
            heartbeat.join()
            self._fail(request_id, f"{type(exc).__name__}: {exc}", started)
            return
        finally:
            heartbeat.finished.set()
            heartbeat.join()
        analysed = time.monotonic() - started
        if heartbeat.lost is not None:
            self._dropped(request_id, heartbeat.lost, started)
            return
        try:
            answer = self.client.complete(
                request_id,
                output["result"],
                output.get("heatmap_png"),
                thumbnail=output.get("thumbnail_jpeg"),
                tiles=output.get("tiles_jpeg") or (),
            )
        except RequestLost as exc:
            self._dropped(request_id, exc, started)
            return
        except ServerUnavailable:
            raise  # the lease runs out and the request is offered again
        except WorkerAPIError as exc:
            # A result the server refuses (400) is a failure of this analysis.
            self._fail(request_id, f"The platform refused the result: {exc}", started)
            return
        log.info(
            "request %s: completed in %.1f s (analysis %.1f s)%s",
            request_id,
            time.monotonic() - started,
            analysed,
            "" if answer.get("stored", True) else ", already stored",
        )

    def _dropped(self, request_id: str, exc: RequestLost, started: float) -> None:
        log.info(
            "request %s: no longer ours (%s) after %.1f s; dropped",
            request_id,
            exc.code or exc.current_status or exc,
            time.monotonic() - started,
        )

    def _hand_back(self, request_id: str, reason: str, started: float) -> None:
        """The slide's source is down: the request goes back to the queue and
        this worker pauses before polling again, rather than taking request
        after request it cannot read."""
        log.warning("request %s: handed back after %.1f s: %s", request_id, time.monotonic() - started, reason)
        try:
            self.client.hand_back(request_id, reason)
        except RequestLost as exc:
            self._dropped(request_id, exc, started)
        except ServerUnavailable:
            raise  # the lease runs out and the request is offered again
        except WorkerAPIError as exc:
            # A platform that refuses hand-backs: the request fails with the reason.
            log.warning("request %s: hand-back refused (%s)", request_id, exc)
            self._fail(request_id, reason, started)
        self._wait(self.config.slide_source_retry_seconds)

    def _fail(self, request_id: str, error: str, started: float) -> None:
        log.warning("request %s: failed after %.1f s: %s", request_id, time.monotonic() - started, error)
        try:
            self.client.fail(request_id, error)
        except RequestLost as exc:
            self._dropped(request_id, exc, started)
