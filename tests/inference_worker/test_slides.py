import os

import pytest

from inference_worker.slides import SlideNotFound, find_slide_file


@pytest.fixture
def storage(tmp_path):
    root = tmp_path / "slides"
    (root / "2024" / "b").mkdir(parents=True)
    (root / "top.svs").write_bytes(b"top")
    (root / "2024" / "b" / "nested.svs").write_bytes(b"nested")
    return root


def test_a_direct_child_is_found(storage):
    assert find_slide_file("top.svs", storage_dir=storage) == (storage / "top.svs").resolve()


def test_a_nested_file_is_found_by_exact_name(storage):
    assert find_slide_file("nested.svs", storage_dir=storage) == (storage / "2024" / "b" / "nested.svs").resolve()


def test_the_direct_child_wins_over_a_nested_namesake(storage):
    (storage / "2024" / "top.svs").write_bytes(b"deeper")

    assert find_slide_file("top.svs", storage_dir=storage).read_bytes() == b"top"


def test_glob_characters_match_only_themselves(storage):
    with pytest.raises(SlideNotFound, match="not found"):
        find_slide_file("*.svs", storage_dir=storage)


def test_a_missing_file_is_not_found(storage):
    with pytest.raises(SlideNotFound, match="not found"):
        find_slide_file("absent.svs", storage_dir=storage)


def test_a_directory_is_not_a_slide(storage):
    with pytest.raises(SlideNotFound):
        find_slide_file("2024", storage_dir=storage)


@pytest.mark.parametrize("name", ["", "  ", ".", "..", "../top.svs", "2024/b/nested.svs", "a\\b.svs", "/etc/passwd"])
def test_names_that_are_not_plain_file_names_are_refused(storage, name):
    with pytest.raises(SlideNotFound):
        find_slide_file(name, storage_dir=storage)


def test_a_symlink_out_of_storage_is_refused(storage, tmp_path):
    secret = tmp_path / "secret.svs"
    secret.write_bytes(b"secret")
    os.symlink(secret, storage / "link.svs")
    os.symlink(secret, storage / "2024" / "deep-link.svs")

    with pytest.raises(SlideNotFound, match="outside"):
        find_slide_file("link.svs", storage_dir=storage)
    with pytest.raises(SlideNotFound, match="outside"):
        find_slide_file("deep-link.svs", storage_dir=storage)


def test_a_symlinked_directory_out_of_storage_is_not_searched(storage, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "other.svs").write_bytes(b"other")
    os.symlink(outside, storage / "linked-dir")

    with pytest.raises(SlideNotFound):
        find_slide_file("other.svs", storage_dir=storage)


def test_a_symlink_within_storage_is_followed(storage):
    os.symlink(storage / "2024" / "b" / "nested.svs", storage / "alias.svs")

    assert find_slide_file("alias.svs", storage_dir=storage) == (storage / "2024" / "b" / "nested.svs").resolve()


def test_a_missing_storage_directory_is_reported(tmp_path):
    with pytest.raises(SlideNotFound, match="storage directory"):
        find_slide_file("top.svs", storage_dir=tmp_path / "nowhere")
