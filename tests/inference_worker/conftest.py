"""One torch thread: the suite runs two test processes on two cores, and
torch's own threads would only compete with them."""

import pytest
import torch

from inference_worker import train_demo

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory) -> train_demo.TrainResult:
    """A CLAM-SB model trained on synthetic slides by inference_worker.train_demo
    (4 training and 2 held-out slides a class), trained once a session:
    `.checkpoint`, `.card` (JSON) and `.worker_env()` run it in the worker."""
    return train_demo.train(tmp_path_factory.mktemp("demo-model"), slides_per_class=6, seed=0, epochs=20)


@pytest.fixture
def api_url(live_server, transactional_db, settings, tmp_path):
    """The pathology API of a live platform, with short long-polls."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PATHOLOGY_LONG_POLL_MAX_SECONDS = 1
    settings.PATHOLOGY_POLL_SECONDS = 0.05
    return f"{live_server.url}/api/pathology"
