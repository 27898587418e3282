"""The worker's settings: environment variables, optionally read from a
`.env` file first (the environment wins). The seed's names are kept
(DJANGO_API_URL, ORTHANC_*, MODEL_PATH, DEVICE, POLL_INTERVAL,
SVS_STORAGE_DIR); WORKER_API_KEY is the `worker` key the platform issued.
Slides fetched from Orthanc go to a temporary directory under
SLIDE_DOWNLOAD_DIR (default: the system's), at most SLIDE_DOWNLOAD_MAX_MB."""

import os
import platform
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.0.0"


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


def env_file_parse(text: str, *, source: str = ".env") -> dict[str, str]:
    """KEY=VALUE lines: blank lines and `#` comments are skipped, an
    `export ` prefix is allowed, and a value in matching single or double
    quotes loses them (no interpolation, no escapes)."""
    values = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise ConfigError(f"{source}, line {number}: expected KEY=VALUE, got {raw.strip()!r}.")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def env_file_read(path: str | os.PathLike) -> dict[str, str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the env file {path}: {exc.strerror or exc}.") from None
    return env_file_parse(text, source=str(path))


def _number(values: Mapping[str, str], name: str, default, kind=float, minimum=0):
    raw = values.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {noun}, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}.")
    return value


def _required(values: Mapping[str, str], name: str, hint: str) -> str:
    value = values.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {hint}")
    return value


@dataclass(frozen=True)
class WorkerConfig:
    api_url: str
    api_key: str
    orthanc_url: str = ""
    orthanc_user: str = ""
    orthanc_password: str = ""
    model_path: str = ""
    device: str = "cpu"
    poll_interval: float = 5.0
    svs_storage_dir: str = ""
    slide_download_dir: str = ""
    slide_download_max_mb: int = 20 * 1024
    long_poll_wait: int = 25
    batch_size: int = 0  # 0: the pipeline chooses by device
    heatmap_max_side: int = 2048  # the heatmap's and thumbnail's long side, at most
    worker_name: str = ""
    heartbeat_seconds: float = 30.0
    slide_source_retry_seconds: float = 60.0
    claim_limit: int = 10
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    version: str = VERSION

    @property
    def host(self) -> str:
        """What X-Worker-Host says: the worker's name, else the machine's."""
        return self.worker_name or socket.gethostname() or platform.node()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: str | os.PathLike | None = None
    ) -> "WorkerConfig":
        """Settings from `environ` (default os.environ) over those of `env_file`."""
        values = dict(env_file_read(env_file)) if env_file else {}
        values.update(os.environ if environ is None else environ)
        api_url = _required(values, "DJANGO_API_URL", "the pathology API, e.g. https://platform.example/api/pathology")
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError(f"DJANGO_API_URL must start with http:// or https://, got {api_url!r}.")
        orthanc_url = values.get("ORTHANC_URL", "").strip()
        if orthanc_url and not orthanc_url.startswith(("http://", "https://")):
            raise ConfigError(f"ORTHANC_URL must start with http:// or https://, got {orthanc_url!r}.")
        long_poll_wait = _number(values, "LONG_POLL_WAIT", 25, int)
        return cls(
            api_url=api_url.rstrip("/"),
            api_key=_required(values, "WORKER_API_KEY", "the API key with the `worker` scope issued by the platform."),
            orthanc_url=orthanc_url.rstrip("/"),
            orthanc_user=values.get("ORTHANC_USER", ""),
            orthanc_password=values.get("ORTHANC_PASSWORD", ""),
            model_path=values.get("MODEL_PATH", "").strip(),
            device=values.get("DEVICE", "").strip() or "cpu",
            poll_interval=_number(values, "POLL_INTERVAL", 5.0, minimum=0.1),
            svs_storage_dir=values.get("SVS_STORAGE_DIR", "").strip(),
            slide_download_dir=values.get("SLIDE_DOWNLOAD_DIR", "").strip(),
            slide_download_max_mb=_number(values, "SLIDE_DOWNLOAD_MAX_MB", 20 * 1024, int, minimum=1),
            long_poll_wait=long_poll_wait,
            batch_size=_number(values, "BATCH_SIZE", 0, int),
            heatmap_max_side=_number(values, "HEATMAP_MAX_SIDE", 2048, int, minimum=64),
            worker_name=values.get("WORKER_NAME", "").strip(),
            heartbeat_seconds=_number(values, "HEARTBEAT_SECONDS", 30.0, minimum=0.05),
            slide_source_retry_seconds=_number(values, "SLIDE_SOURCE_RETRY_SECONDS", 60.0),
            claim_limit=_number(values, "CLAIM_LIMIT", 10, int, minimum=1),
            connect_timeout=_number(values, "CONNECT_TIMEOUT", 5.0, minimum=0.1),
            read_timeout=_number(values, "READ_TIMEOUT", 30.0, minimum=1),
            max_retries=_number(values, "MAX_RETRIES", 5, int),
        )
