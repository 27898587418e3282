import numpy as np
import openslide
import pytest

from inference_worker import synthetic, tissue

WIDTH, HEIGHT = 4096, 3072


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    path = synthetic.write_svs(tmp_path_factory.mktemp("svs") / "slide.svs", width=WIDTH, height=HEIGHT, seed=3)
    return openslide.OpenSlide(path)


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    path = tmp_path_factory.mktemp("blank") / "blank.svs"
    return openslide.OpenSlide(synthetic.write_svs(path, width=WIDTH, height=HEIGHT, tissue="blank"))


def _thumbnail(slide):
    return np.asarray(slide.read_region((0, 0), 2, slide.level_dimensions[2]))


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_segment_finds_the_drawn_blobs(slide):
    truth = synthetic.tissue_mask(WIDTH, HEIGHT, downsample=16, seed=3)

    mask = tissue.segment(_thumbnail(slide))

    assert mask.shape == truth.shape and mask.dtype == bool
    assert mask.mean() == pytest.approx(truth.mean(), rel=0.05)
    assert _iou(mask, truth) > 0.95


def test_segment_is_deterministic(slide):
    assert np.array_equal(tissue.segment(_thumbnail(slide)), tissue.segment(_thumbnail(slide)))


def test_fixed_threshold_overrides_otsu(slide):
    thumbnail = _thumbnail(slide)

    assert not tissue.segment(thumbnail, threshold=255).any()
    assert tissue.segment(thumbnail, threshold=0).mean() > tissue.segment(thumbnail).mean()


def test_blank_slide_has_no_tissue(blank):
    assert not tissue.segment(_thumbnail(blank)).any()
    with pytest.raises(tissue.NoTissue):
        tissue.slide_patches(blank)


@pytest.mark.parametrize("colour", [(242, 240, 238), (255, 255, 255), (200, 120, 180), (0, 0, 0)])
def test_constant_image_has_no_tissue(colour):
    image = np.empty((64, 96, 3), dtype=np.uint8)
    image[...] = colour

    assert not tissue.segment(image).any()


def test_noisy_glass_has_no_tissue():
    rng = np.random.default_rng(0)
    glass = np.clip(240 + rng.normal(0, 4, (128, 128, 3)), 0, 255).astype(np.uint8)

    assert not tissue.segment(glass).any()


def test_transparent_pixels_read_as_glass():
    # OpenSlide's transparent black outside the scanned area.
    image = np.zeros((64, 64, 4), dtype=np.uint8)

    assert not tissue.segment(image).any()


def test_specks_are_dropped_and_gaps_closed():
    image = np.full((200, 200, 3), 240, dtype=np.uint8)
    image[50:150, 50:150] = (220, 140, 190)
    image[98:102, 50:150] = 240  # a gap thinner than the closing
    image[10:13, 10:13] = (220, 140, 190)  # a speck

    mask = tissue.segment(image, median=1, close=7, min_area_fraction=0.001)

    assert mask[50:150, 50:150].all()
    assert mask.sum() == 100 * 100


def test_otsu_splits_two_populations():
    values = np.array([10] * 50 + [200] * 50, dtype=np.uint8)

    threshold = tissue.otsu_threshold(values)

    assert 10 <= threshold < 200


def test_patch_grid_counts_follow_size_and_tissue():
    mask = np.zeros((192, 256), dtype=bool)
    mask[:, :128] = True  # the left half of a 4096 x 3072 slide

    def count(**options):
        return len(tissue.patch_grid((WIDTH, HEIGHT), mask, 16, **options))

    assert count(patch_size=256) == 8 * 12
    assert count(patch_size=512) == 4 * 6
    assert count(patch_size=256, level=1, level_downsample=2.0) == count(patch_size=512)
    assert count(patch_size=1000) == 2 * 3  # whole patches only: 4 x 3 fit, 2 of 4 columns are tissue
    assert count(patch_size=256, min_tissue=1.0) == count(patch_size=256, min_tissue=0.5)
    assert tissue.patch_grid((WIDTH, HEIGHT), ~mask, 16) == [
        (x, y) for y in range(0, HEIGHT, 256) for x in range(2048, WIDTH, 256)
    ]


def test_patch_grid_threshold_on_partial_patches():
    mask = np.zeros((10, 10), dtype=bool)
    mask[:, :3] = True  # with 100-pixel mask cells: 300 level-0 pixels of tissue

    def xs(min_tissue):
        return sorted(
            {x for x, _ in tissue.patch_grid((1000, 1000), mask, 100.0, patch_size=200, min_tissue=min_tissue)}
        )

    assert xs(0.5) == [0, 200]  # the second column is half tissue
    assert xs(0.6) == [0]
    assert xs(0.0) == [0, 200]  # patches without any tissue never count
    assert tissue.tissue_fraction(mask, 100.0, 200, 0, 200) == 0.5
    assert tissue.tissue_fraction(mask, (100.0, 100.0), 400, 0, 200) == 0.0


def test_patch_grid_of_an_empty_mask_is_empty():
    assert tissue.patch_grid((WIDTH, HEIGHT), np.zeros((192, 256), dtype=bool), 16) == []


def test_patch_grid_rejects_a_downsampled_level_zero():
    with pytest.raises(ValueError):
        tissue.patch_grid((WIDTH, HEIGHT), np.ones((192, 256), dtype=bool), 16, level=0, level_downsample=4.0)


def test_slide_patches_cover_the_tissue(slide):
    truth = synthetic.tissue_mask(WIDTH, HEIGHT, downsample=16, seed=3)

    result = tissue.slide_patches(slide, patch_size=256)

    assert result.mask_downsample == (16.0, 16.0)
    assert result.coords == tissue.slide_patches(slide, patch_size=256).coords
    # About as many patches as the tissue's area holds, each mostly on tissue.
    expected = truth.sum() * 16 * 16 / 256**2
    assert 0.7 * expected < len(result.coords) < 1.2 * expected
    for x, y in result.coords:
        assert truth[y // 16 : (y + 256) // 16, x // 16 : (x + 256) // 16].mean() > 0.4
    # 256 pixels at level 1 are 1024 at level 0.
    at_level1 = tissue.slide_patches(slide, patch_size=256, level=1, min_tissue=0.25)
    assert at_level1.coords == tissue.slide_patches(slide, patch_size=1024, min_tissue=0.25).coords
    assert 0 < len(at_level1.coords) < len(result.coords) / 8
    assert all(x % 1024 == 0 and y % 1024 == 0 for x, y in at_level1.coords)
