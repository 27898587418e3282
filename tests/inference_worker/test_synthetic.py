import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image

from inference_worker import synthetic

WIDTH, HEIGHT = 4096, 3072


@pytest.fixture(scope="module")
def svs(tmp_path_factory):
    return synthetic.write_svs(tmp_path_factory.mktemp("svs") / "slide.svs", width=WIDTH, height=HEIGHT)


@pytest.fixture(scope="module")
def tiff(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiff") / "slide.tiff"
    return synthetic.write_tiled_tiff(path, width=WIDTH, height=HEIGHT, mpp=0.5, pattern="b")


def _rgb(slide, location, level, size):
    return np.asarray(slide.read_region(location, level, size).convert("RGB"))


def _saturation(rgb):
    return np.asarray(Image.fromarray(rgb).convert("HSV"))[..., 1]


def test_svs_opens_as_aperio_with_its_levels_and_resolution(svs):
    slide = openslide.OpenSlide(svs)

    assert slide.properties["openslide.vendor"] == "aperio"
    assert slide.level_count == 3
    assert slide.level_dimensions == ((4096, 3072), (1024, 768), (256, 192))
    assert slide.level_downsamples == (1.0, 4.0, 16.0)
    assert float(slide.properties["openslide.mpp-x"]) == 0.25
    assert float(slide.properties["openslide.mpp-y"]) == 0.25
    assert slide.properties["openslide.objective-power"] == "40"
    assert slide.properties["aperio.AppMag"] == "40"


def test_tiled_tiff_opens_as_generic_tiff_with_its_levels_and_resolution(tiff):
    slide = openslide.OpenSlide(tiff)

    assert slide.properties["openslide.vendor"] == "generic-tiff"
    assert slide.level_dimensions == ((4096, 3072), (1024, 768), (256, 192))
    assert slide.level_downsamples == (1.0, 4.0, 16.0)
    assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.5)
    assert "openslide.objective-power" not in slide.properties


@pytest.mark.parametrize("fixture", ["svs", "tiff"])
def test_read_region_returns_the_pixels_written(request, fixture):
    path = request.getfixturevalue(fixture)
    slide = openslide.OpenSlide(path)

    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 3
        level0 = tif.pages[0].asarray()
        level1 = tif.pages[1].asarray()

    # Across tile boundaries, at level 0 and at a reduced level.
    assert np.array_equal(_rgb(slide, (1000, 700), 0, (600, 500)), level0[700:1200, 1000:1600])
    assert np.array_equal(_rgb(slide, (1000, 700), 1, (300, 200)), level1[175:375, 250:550])


def test_tissue_is_stained_where_drawn_and_glass_elsewhere(svs):
    slide = openslide.OpenSlide(svs)
    truth = synthetic.tissue_mask(WIDTH, HEIGHT, downsample=16)
    level2 = _rgb(slide, (0, 0), 2, (256, 192))
    saturation = _saturation(level2)

    assert 0.05 < truth.mean() < 0.6
    assert np.median(saturation[truth]) > 50
    assert (level2[~truth] == synthetic.GLASS).all()


def test_patterns_differ_in_nuclei(tmp_path):
    # Both patterns on the same blobs: pattern b has more, darker nuclei.
    paths = {
        p: synthetic.write_svs(tmp_path / f"{p}.svs", width=1024, height=1024, levels=(1, 4), pattern=p)
        for p in synthetic.PATTERNS
    }
    truth = synthetic.tissue_mask(1024, 1024, downsample=1)
    dark = {}
    for pattern, path in paths.items():
        rgb = _rgb(openslide.OpenSlide(path), (0, 0), 0, (1024, 1024))
        dark[pattern] = (rgb[truth].mean(axis=1) < 130).mean()

    assert 0.05 < dark["a"] < 0.2
    assert 0.25 < dark["b"] < 0.5


def test_same_seed_same_slide_other_seed_other_blobs(tmp_path):
    def level0(name, seed):
        path = synthetic.write_svs(tmp_path / name, width=1024, height=768, levels=(1, 4), seed=seed)
        return tifffile.imread(path, key=0)

    assert np.array_equal(level0("one.svs", 1), level0("again.svs", 1))
    assert not np.array_equal(level0("one.svs", 1), level0("other.svs", 2))
    assert not np.array_equal(
        synthetic.tissue_mask(1024, 768, downsample=4, seed=1), synthetic.tissue_mask(1024, 768, downsample=4, seed=2)
    )


def test_blank_slide_is_all_glass(tmp_path):
    path = synthetic.write_svs(tmp_path / "blank.svs", width=1024, height=768, levels=(1, 4), tissue="blank")

    assert (tifffile.imread(path, key=0) == synthetic.GLASS).all()
    assert not synthetic.tissue_mask(1024, 768, downsample=4, tissue="blank").any()


def test_levels_that_do_not_divide_the_size(tmp_path):
    path = synthetic.write_tiled_tiff(tmp_path / "odd.tiff", width=1000, height=700, tile=128, levels=(1, 3))
    slide = openslide.OpenSlide(path)

    assert slide.level_dimensions == ((1000, 700), (333, 233))
    assert slide.level_downsamples[1] == pytest.approx(3.0, rel=0.01)


@pytest.mark.parametrize(
    "options",
    [{"tissue": "fat"}, {"pattern": "c"}, {"tile": 100}, {"levels": (2, 4)}, {"levels": (1, 4, 4)}],
)
def test_rejects_bad_options(tmp_path, options):
    with pytest.raises(ValueError):
        synthetic.write_svs(tmp_path / "bad.svs", width=512, height=512, **options)


def test_lesions_are_pattern_b_drawn_where_the_mask_says_inside_tissue(tmp_path):
    # The same blobs, noise and cells three ways: a slide with lesions is the
    # pattern-b slide inside its lesions and the lesion-free one elsewhere.
    def level1(name, **options):
        path = synthetic.write_svs(tmp_path / name, width=1024, height=1024, levels=(1, 4), seed=5, **options)
        return tifffile.imread(path, key=1)

    with_lesions, plain, pattern_b = level1("l.svs", lesions=3), level1("a.svs"), level1("b.svs", pattern="b")
    lesions = synthetic.lesion_mask(1024, 1024, downsample=4, seed=5, lesions=3)
    tissue = synthetic.tissue_mask(1024, 1024, downsample=4, seed=5)

    assert lesions.any()
    assert not (lesions & ~tissue).any()
    assert lesions.sum() < 0.5 * tissue.sum()
    assert np.array_equal(with_lesions[lesions], pattern_b[lesions])
    assert np.array_equal(with_lesions[~lesions], plain[~lesions])


def test_lesions_at_level_0_follow_the_mask_but_for_their_edges(tmp_path):
    path = synthetic.write_svs(tmp_path / "l.svs", width=1024, height=768, levels=(1, 4), seed=2, lesions=2)
    plain = synthetic.write_svs(tmp_path / "a.svs", width=1024, height=768, levels=(1, 4), seed=2)
    drawn = (tifffile.imread(path, key=0) != tifffile.imread(plain, key=0)).any(axis=2)
    lesions = synthetic.lesion_mask(1024, 768, downsample=1, seed=2, lesions=2)

    # Level 0 is drawn from masks 4 pixels coarse: only the boundaries differ.
    assert drawn[lesions].mean() > 0.95
    assert drawn[~lesions].mean() < 0.01
    assert (drawn != lesions).mean() < 0.01


def test_lesions_are_the_same_for_the_same_seed_and_none_by_default(tmp_path):
    def mask(seed, lesions):
        return synthetic.lesion_mask(2048, 1536, downsample=16, seed=seed, lesions=lesions)

    assert np.array_equal(mask(1, 3), mask(1, 3))
    assert not np.array_equal(mask(1, 3), mask(2, 3))
    assert not mask(1, 0).any()
    assert not synthetic.lesion_mask(1024, 768, downsample=4, tissue="blank", lesions=3).any()
    # Asking for none writes the slide written before lesions existed, byte for byte.
    default = synthetic.write_svs(tmp_path / "default.svs", width=1024, height=768, levels=(1, 4), seed=1)
    none = synthetic.write_svs(tmp_path / "none.svs", width=1024, height=768, levels=(1, 4), seed=1, lesions=0)
    assert default.read_bytes() == none.read_bytes()


@pytest.mark.parametrize("options", [{"lesions": -1}, {"lesions": 2, "pattern": "b"}])
def test_rejects_bad_lesions(tmp_path, options):
    with pytest.raises(ValueError):
        synthetic.write_svs(tmp_path / "bad.svs", width=512, height=512, **options)
