import logging

import numpy as np
import pytest
import torch

from inference_worker.features import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ResNet50Trunk,
    TinyExtractor,
    build_extractor,
    device_select,
    preprocess,
)


def _patches(b=2, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(b, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def trunk():
    torch.manual_seed(0)
    return ResNet50Trunk()


def test_resnet_trunk_has_torchvision_key_names(trunk):
    keys = trunk.state_dict().keys()
    for key in [
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer1.0.bn1.weight",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.running_var",
        "layer2.3.conv2.weight",
        "layer3.0.downsample.0.weight",
        "layer3.5.conv3.weight",
        "layer3.5.bn3.num_batches_tracked",
    ]:
        assert key in keys
    assert not any(k.startswith(("layer4.", "fc.")) for k in keys)
    assert "layer1.1.downsample.0.weight" not in keys
    assert trunk.state_dict()["layer3.5.conv3.weight"].shape == (1024, 256, 1, 1)


def test_resnet_trunk_extracts_1024_features(trunk):
    features = trunk.extract(_patches(b=2, size=96))
    assert features.shape == (2, 1024)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()


def _full_resnet50_state_dict(trunk):
    state = dict(trunk.state_dict())
    state["layer4.0.conv1.weight"] = torch.zeros(512, 1024, 1, 1)
    state["layer4.2.bn3.running_mean"] = torch.zeros(2048)
    state["fc.weight"] = torch.zeros(1000, 2048)
    state["fc.bias"] = torch.zeros(1000)
    return state


def test_load_weights_accepts_a_full_resnet50_state_dict(trunk, tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(_full_resnet50_state_dict(trunk), path)

    loaded = ResNet50Trunk().load_weights(path)

    for key, value in trunk.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_load_weights_tolerates_missing_batchnorm_counters(trunk):
    state = {k: v for k, v in _full_resnet50_state_dict(trunk).items() if not k.endswith("num_batches_tracked")}
    ResNet50Trunk().load_weights(state)


def test_load_weights_rejects_a_wrong_state_dict(trunk, tmp_path):
    state = _full_resnet50_state_dict(trunk)
    del state["layer2.0.conv2.weight"]
    state["layer3.0.conv1.weight"] = torch.zeros(7, 512, 1, 1)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)

    with pytest.raises(ValueError) as excinfo:
        ResNet50Trunk().load_weights(path)
    assert "layer2.0.conv2.weight" in str(excinfo.value)
    assert "layer3.0.conv1.weight" in str(excinfo.value)


def test_preprocess_normalises_with_imagenet_statistics():
    batch = np.zeros((3, 224, 224, 3), dtype=np.uint8)
    batch[1] = 255
    batch[2] = [10, 128, 200]

    x = preprocess(batch)

    assert x.shape == (3, 3, 224, 224)
    assert x.dtype == torch.float32
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    for i, rgb in enumerate([(0, 0, 0), (255, 255, 255), (10, 128, 200)]):
        expected = (torch.tensor(rgb, dtype=torch.float32) / 255 - mean) / std
        assert torch.allclose(x[i].mean(dim=(1, 2)), expected, atol=1e-5)
        assert torch.allclose(x[i, :, 100, 37], expected, atol=1e-5)


def test_preprocess_resizes_to_224():
    x = preprocess(_patches(b=2, size=256))
    assert x.shape == (2, 3, 224, 224)
    # A uniform patch stays uniform through the antialiased resize.
    flat = preprocess(np.full((1, 512, 512, 3), 100, dtype=np.uint8))
    assert flat.shape == (1, 3, 224, 224)
    assert torch.allclose(flat, flat[:, :, :1, :1].expand_as(flat), atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 32, 32, 3), dtype=np.float32),
        np.zeros((32, 32, 3), dtype=np.uint8),
        np.zeros((2, 32, 32, 4), dtype=np.uint8),
    ],
)
def test_preprocess_refuses_other_inputs(bad):
    with pytest.raises(ValueError):
        preprocess(bad)


def test_tiny_extractor_is_deterministic_from_its_seed():
    batch = _patches(b=3, size=128)
    a = TinyExtractor(seed=1).extract(batch)
    b = TinyExtractor(seed=1).extract(batch)
    c = TinyExtractor(seed=2).extract(batch)
    assert a.shape == (3, 1024)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_build_extractor():
    assert isinstance(build_extractor("tiny"), TinyExtractor)
    with pytest.raises(ValueError):
        build_extractor("vit")


def test_device_select_falls_back_to_cpu_with_a_warning(caplog, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="inference_worker.features"):
        assert device_select("cuda") == torch.device("cpu")
    assert len(caplog.records) == 1
    assert "CUDA is not available" in caplog.records[0].getMessage()

    caplog.clear()
    assert device_select("cpu") == torch.device("cpu")
    assert device_select("auto") == torch.device("cpu")
    assert caplog.records == []
    with pytest.raises(ValueError):
        device_select("tpu")
