"""Every time the /api/model/ endpoints answer is in Asia/Seoul (+09:00),
as the rest of the platform answers: /status and /metrics used to answer
in UTC."""

import datetime as dt

from modeltrainer.services import training


def _times(value, path=""):
    """(path, text) of every string in a JSON body that reads as a date and time."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _times(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _times(item, f"{path}.{index}")
    elif isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return
        yield path, value


def test_every_time_in_the_model_api_is_seoul_time(staff_client, trained_version):
    first = trained_version()
    second = trained_version(activate="never")
    queued, _created = training.model_version_train(enqueue=False)
    paths = [
        "/api/model/status",
        "/api/model/metrics",
        "/api/model/versions/",
        f"/api/model/versions/{first.pk}/",
        f"/api/model/versions/{second.pk}/compare/",
        "/api/model/examples/",
        "/api/model/logs/recent",
    ]

    found = {}
    for path in paths:
        response = staff_client.get(path)
        assert response.status_code == 200, path
        found[path] = list(_times(response.json()))
    # A training queued or in progress is in /status too.
    assert staff_client.get("/api/model/status").json()["training"]["version"] == queued.number

    for path, times in found.items():
        assert times, f"{path} answered no time at all"
        wrong = [(where, value) for where, value in times if not value.endswith("+09:00")]
        assert wrong == [], path
    status_times = dict(found["/api/model/status"])
    assert {".active_version.created_at", ".active_version.finished_at", ".active_version.activated_at"} <= set(
        status_times
    )
    assert ".training.created_at" in status_times
    assert dt.datetime.fromisoformat(status_times[".active_version.finished_at"]) == first.finished_at
    metrics_times = dict(found["/api/model/metrics"])
    assert {".versions.0.finished_at", ".versions.1.finished_at"} <= set(metrics_times)
