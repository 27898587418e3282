import pytest
import torch

from inference_worker.clam import CLAM_MB, CLAM_SB, AttnNetGated, build_model, load_checkpoint


def _features(n=37, seed=0):
    return torch.randn(n, 1024, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["clam_sb", "clam_mb"])
@pytest.mark.parametrize("size", ["small", "big"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_forward_shapes(kind, size, n_classes):
    model = build_model(kind=kind, size=size, n_classes=n_classes)
    with torch.inference_mode():
        out = model(_features(n=37))

    assert out["logits"].shape == (1, n_classes)
    assert out["probabilities"].shape == (1, n_classes)
    assert out["attention"].shape == (37,)
    assert torch.allclose(out["probabilities"].sum(), torch.tensor(1.0))


def test_single_patch_and_batched_input():
    model = build_model()
    with torch.inference_mode():
        assert model(_features(n=1))["attention"].shape == (1,)
        assert model(_features(n=5).unsqueeze(0))["logits"].shape == (1, 2)


def test_wrong_feature_width_is_refused():
    with pytest.raises(ValueError, match="1024"):
        build_model()(torch.zeros(4, 512))


def test_mb_attention_is_the_predicted_class_branch():
    model = build_model(kind="clam_mb", n_classes=3)
    h = _features(n=11)
    with torch.inference_mode():
        out = model(h)
        raw = model.attention_net(h)[0]  # [N, n_classes]
    predicted = int(out["logits"].argmax())
    assert torch.equal(out["attention"], raw[:, predicted])


def test_attention_net_gated_returns_scores_and_input():
    net = AttnNetGated(L=512, D=256, dropout=0.25, n_classes=3).eval()
    x = torch.randn(6, 512)
    A, same = net(x)
    assert A.shape == (6, 3)
    assert same is x


def test_state_dict_keys_match_public_clam_names():
    sb = CLAM_SB(n_classes=2).state_dict()
    for key in [
        "attention_net.0.weight",
        "attention_net.0.bias",
        "attention_net.3.attention_a.0.weight",
        "attention_net.3.attention_b.0.weight",
        "attention_net.3.attention_c.weight",
        "classifiers.weight",
        "instance_classifiers.0.weight",
        "instance_classifiers.1.bias",
    ]:
        assert key in sb
    assert sb["attention_net.0.weight"].shape == (512, 1024)
    assert sb["attention_net.3.attention_c.weight"].shape == (1, 256)
    assert sb["classifiers.weight"].shape == (2, 512)
    assert sb["instance_classifiers.0.weight"].shape == (2, 512)

    mb = CLAM_MB(size_arg="big", n_classes=3).state_dict()
    assert mb["attention_net.3.attention_a.0.weight"].shape == (384, 512)
    assert mb["attention_net.3.attention_c.weight"].shape == (3, 384)
    assert mb["classifiers.2.weight"].shape == (1, 512)
    assert "instance_classifiers.2.weight" in mb


def test_checkpoint_with_module_prefix_and_instance_loss_keys_loads(tmp_path):
    source = build_model(kind="clam_mb", n_classes=3)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["module.instance_loss_fn.weight"] = torch.ones(2)
    path = tmp_path / "s_0_checkpoint.pt"
    torch.save({"state_dict": state, "epoch": 7}, path)

    target = load_checkpoint(build_model(kind="clam_mb", n_classes=3), path)

    h = _features()
    with torch.inference_mode():
        assert torch.equal(target(h)["logits"], source(h)["logits"])
    assert not target.training


def test_checkpoint_as_dict_loads():
    source = build_model()
    target = load_checkpoint(build_model(), {"model": source.state_dict()})
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def test_mismatched_checkpoint_names_the_keys():
    state = build_model(kind="clam_sb").state_dict()
    del state["classifiers.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as excinfo:
        load_checkpoint(build_model(kind="clam_sb"), state)
    assert "classifiers.bias" in str(excinfo.value)
    assert "extra.weight" in str(excinfo.value)


def test_checkpoint_of_another_size_names_the_shapes():
    state = build_model(size="big").state_dict()
    with pytest.raises(ValueError, match=r"attention_net\.3\.attention_a\.0\.weight"):
        load_checkpoint(build_model(size="small"), state)


def test_output_is_deterministic_for_fixed_weights():
    torch.manual_seed(0)
    first = build_model(kind="clam_sb")
    second = build_model(kind="clam_sb")
    second.load_state_dict(first.state_dict())
    h = _features()
    with torch.inference_mode():
        a, b, c = first(h), first(h), second(h)
    for key in ("logits", "probabilities", "attention"):
        assert torch.equal(a[key], b[key])
        assert torch.equal(a[key], c[key])


def test_logits_train_with_cross_entropy():
    torch.manual_seed(0)
    model = build_model(kind="clam_mb", embed_dim=64).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    bags = [(_features(n=10, seed=i)[:, :64] + (2.0 if i % 2 else -2.0), i % 2) for i in range(4)]
    first_loss = last_loss = None
    for _ in range(8):
        total = 0.0
        for h, label in bags:
            loss = torch.nn.functional.cross_entropy(model(h)["logits"], torch.tensor([label]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        first_loss = total if first_loss is None else first_loss
        last_loss = total
    assert last_loss < first_loss


def test_unknown_kind_and_size_are_refused():
    with pytest.raises(ValueError):
        build_model(kind="transmil")
    with pytest.raises(ValueError):
        build_model(size="huge")
