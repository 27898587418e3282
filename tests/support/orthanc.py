"""A real Orthanc (Debian's `orthanc` package) for the tests: started once
per test process on a free port of 127.0.0.1, with authentication on, a
random password, its own storage in a temporary directory, no DICOM port
and no plugins. It declares the user metadata `SlideFile`, as a lab's
Orthanc that records slide file names would. scripts/test installs it."""

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ORTHANC_BINARIES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
USER = "lab"


@dataclass(frozen=True)
class OrthancServer:
    url: str
    user: str
    password: str

    def upload(self, path: str | Path) -> dict:
        """POST a DICOM file; Orthanc's answer (ID, ParentSeries, ...)."""
        response = requests.post(
            f"{self.url}/instances", data=Path(path).read_bytes(), auth=(self.user, self.password), timeout=30
        )
        response.raise_for_status()
        return response.json()

    def set_metadata(self, instance_id: str, name: str, value: str) -> None:
        response = requests.put(
            f"{self.url}/instances/{instance_id}/metadata/{name}",
            data=value.encode(),
            auth=(self.user, self.password),
            timeout=10,
        )
        response.raise_for_status()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def orthanc_server():
    binary = next((b for b in ORTHANC_BINARIES if Path(b).exists()), None) or shutil.which("Orthanc")
    if binary is None:
        pytest.fail("Orthanc is missing: install Debian's orthanc (scripts/test does, through ensure_orthanc).")
    directory = Path(tempfile.mkdtemp(prefix="orthanc-test-"))
    port = _free_port()
    password = secrets.token_urlsafe(16)
    config = {
        "Name": "tests",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "storage"),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: password},
        "DicomServerEnabled": False,
        "Plugins": [],
        "UserMetadata": {"SlideFile": 1024},
    }
    (directory / "orthanc.json").write_text(json.dumps(config))
    log = (directory / "orthanc.log").open("w")
    process = subprocess.Popen([binary, str(directory / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    server = OrthancServer(url=f"http://127.0.0.1:{port}", user=USER, password=password)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{server.url}/system", auth=(USER, password), timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Orthanc did not start:\n{(directory / 'orthanc.log').read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
