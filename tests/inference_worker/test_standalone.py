"""The worker package runs on a lab machine without the platform: it
imports nothing from Django or the project's apps."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_imports_without_django():
    code = (
        "import sys\n"
        "import inference_worker.clam, inference_worker.features, inference_worker.pipeline\n"
        "import inference_worker.slides, inference_worker.synthetic, inference_worker.tissue\n"
        "import inference_worker.orthanc, inference_worker.dicom_wsi, inference_worker.train_demo\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'rest_framework', 'aiplatform', 'pathology', 'conversations', 'modeltrainer'})\n"
        "print(','.join(loaded))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""
