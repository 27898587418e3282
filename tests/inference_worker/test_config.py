"""WorkerConfig: the environment over an optional .env file, and errors that
name the variable."""

import pytest

from inference_worker.config import ConfigError, WorkerConfig, env_file_parse

BASE = {"DJANGO_API_URL": "http://platform.test/api/pathology/", "WORKER_API_KEY": "k"}


def test_defaults_from_the_environment():
    config = WorkerConfig.from_env(BASE)

    assert config.api_url == "http://platform.test/api/pathology"
    assert config.api_key == "k"
    assert config.long_poll_wait == 25
    assert config.heartbeat_seconds == 30
    assert config.device == "cpu"
    assert config.host  # the machine's name when WORKER_NAME is not set


def test_every_seed_name_is_read():
    config = WorkerConfig.from_env(
        {
            **BASE,
            "ORTHANC_URL": "http://orthanc:8042/",
            "ORTHANC_USER": "u",
            "ORTHANC_PASSWORD": "p",
            "MODEL_PATH": "/m/clam.pt",
            "DEVICE": "cuda:0",
            "POLL_INTERVAL": "2.5",
            "SVS_STORAGE_DIR": "/slides",
            "LONG_POLL_WAIT": "0",
            "BATCH_SIZE": "8",
            "WORKER_NAME": "lab-1",
            "HEARTBEAT_SECONDS": "10",
        }
    )

    assert (config.orthanc_url, config.orthanc_user, config.orthanc_password) == ("http://orthanc:8042", "u", "p")
    assert (config.model_path, config.device, config.svs_storage_dir) == ("/m/clam.pt", "cuda:0", "/slides")
    assert (config.poll_interval, config.long_poll_wait, config.batch_size) == (2.5, 0, 8)
    assert (config.host, config.heartbeat_seconds) == ("lab-1", 10)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"DJANGO_API_URL": ""}, "DJANGO_API_URL is not set"),
        ({"DJANGO_API_URL": "platform.test/api"}, "DJANGO_API_URL must start with http"),
        ({"WORKER_API_KEY": " "}, "WORKER_API_KEY is not set"),
        ({"LONG_POLL_WAIT": "soon"}, "LONG_POLL_WAIT must be an integer"),
        ({"HEARTBEAT_SECONDS": "-1"}, "HEARTBEAT_SECONDS must be at least"),
        ({"BATCH_SIZE": "-1"}, "BATCH_SIZE must be at least 0"),
        ({"POLL_INTERVAL": "x"}, "POLL_INTERVAL must be a number"),
        ({"ORTHANC_URL": "orthanc:8042"}, "ORTHANC_URL must start with http"),
    ],
)
def test_errors_name_the_variable(changes, named):
    with pytest.raises(ConfigError, match=named):
        WorkerConfig.from_env({**BASE, **changes})


def test_env_file_parsing():
    values = env_file_parse(
        "# a comment\n"
        "\n"
        "DJANGO_API_URL=http://platform.test/api/pathology\n"
        "export WORKER_API_KEY = 'se cret#1'\n"
        'DEVICE="cuda:1"\n'
        "BATCH_SIZE=16 # per batch\n"
        "EMPTY=\n"
        "URL_WITH_EQUALS=http://x/?a=b\n"
    )

    assert values == {
        "DJANGO_API_URL": "http://platform.test/api/pathology",
        "WORKER_API_KEY": "se cret#1",
        "DEVICE": "cuda:1",
        "BATCH_SIZE": "16",
        "EMPTY": "",
        "URL_WITH_EQUALS": "http://x/?a=b",
    }


def test_a_bad_env_line_names_the_file_and_line():
    with pytest.raises(ConfigError, match=r"worker\.env, line 2"):
        env_file_parse("A=1\nthis is not a setting\n", source="worker.env")


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_API_URL=http://from-file/api/pathology\nWORKER_API_KEY=file-key\nDEVICE=cuda:0\n")

    config = WorkerConfig.from_env({"WORKER_API_KEY": "env-key"}, env_file=env_file)

    assert (config.api_url, config.api_key, config.device) == ("http://from-file/api/pathology", "env-key", "cuda:0")


def test_a_missing_env_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the env file"):
        WorkerConfig.from_env(BASE, env_file=tmp_path / "absent.env")


def test_heatmap_max_side():
    assert WorkerConfig.from_env(BASE).heatmap_max_side == 2048
    assert WorkerConfig.from_env({**BASE, "HEATMAP_MAX_SIDE": "4096"}).heatmap_max_side == 4096
    with pytest.raises(ConfigError, match="HEATMAP_MAX_SIDE must be at least 64"):
        WorkerConfig.from_env({**BASE, "HEATMAP_MAX_SIDE": "10"})
