"""Generated concept images, image folders, and the batch loader that skips unreadable files."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

from circuitscope.datasets import (
    CONCEPT_CLASSES,
    ConceptDataset,
    DatasetError,
    ImageDataset,
    ImageFolderDataset,
    SkippedImages,
    UnreadableImage,
    build_dataset,
    iterate_batches,
    model_transform,
)

K = len(CONCEPT_CLASSES)


# ----------------------------------------------------------------------------- concepts
def test_concepts_follow_the_protocol():
    ds = ConceptDataset(seed=0, size=500, resolution=64)
    assert isinstance(ds, ImageDataset)
    assert len(ds) == 500 and ds.classes == CONCEPT_CLASSES and 8 <= K <= 12
    img = ds.load(3)
    assert img.mode == "RGB" and img.size == (64, 64)
    assert ds.ref(7) == "concepts/000007"
    assert ds.describe() == {"kind": "concepts", "seed": 0, "size": 500, "resolution": 64}
    with pytest.raises(IndexError):
        ds.load(500)
    assert ConceptDataset(size=10, resolution=32).load(0).size == (32, 32)


def test_concepts_are_deterministic_per_seed_and_index():
    a, b, c = ConceptDataset(seed=1, size=100), ConceptDataset(seed=1, size=100), ConceptDataset(seed=2, size=100)
    idx = [0, 5, 42, 99]
    for i in reversed(idx):  # order of generation must not matter
        b.render(i)
    for i in idx:
        ia, aa = a.render(i)
        ib, ab = b.render(i)
        assert np.array_equal(ia, ib) and aa == ab
        assert np.array_equal(np.asarray(a.load(i)), ia) and a.attributes(i) == aa
    differ = sum(not np.array_equal(a.render(i)[0], c.render(i)[0]) for i in idx)
    assert differ == len(idx)
    assert [a.label(i) for i in range(100)] != [c.label(i) for i in range(100)]
    # the size of the dataset does not change image i
    assert np.array_equal(ConceptDataset(seed=1, size=20000).render(42)[0], a.render(42)[0])


def test_concept_attributes_are_json_and_match_labels():
    ds = ConceptDataset(seed=0, size=4 * K)
    seen = set()
    for i in range(len(ds)):
        attrs = ds.attributes(i)
        json.dumps(attrs, allow_nan=False)
        assert attrs["class"] == CONCEPT_CLASSES[ds.label(i)] and attrs["label"] == ds.label(i)
        for key in ("fg_color", "bg_color", "background", "orientation", "curvature", "texture", "position", "size"):
            assert key in attrs
        assert attrs["fg_color"]["name"] != attrs["bg_color"]["name"]
        assert all(0 <= v <= 255 for v in attrs["fg_color"]["rgb"])
        seen.add(attrs["class"])
        if attrs["class"] in ("stripes", "checkerboard", "dots"):
            assert attrs["texture"]["frequency"] > 0
        if attrs["class"] in ("edge", "line", "curve", "stripes"):
            assert attrs["orientation"] is not None
        if attrs["class"] in ("curve", "circle"):
            assert attrs["curvature"] > 0
    assert seen == set(CONCEPT_CLASSES)


def test_concept_classes_are_balanced_in_any_prefix():
    ds = ConceptDataset(seed=3, size=20000)
    labels = np.array([ds.label(i) for i in range(20 * K)])
    assert np.all(np.bincount(labels, minlength=K) == 20)
    tail = np.array([ds.label(i) for i in range(5000, 5000 + 7 * K + 3)])
    counts = np.bincount(tail, minlength=K)
    assert counts.max() - counts.min() <= 2
    assert not np.array_equal(labels[:K], labels[K:2 * K])  # shuffled, not a fixed cycle


def test_concept_ground_truth_is_drawn_where_it_says():
    ds = ConceptDataset(seed=0, size=40 * K)
    checked = 0
    for i in range(len(ds)):
        img, a = ds.render(i)
        fg = np.array(a["fg_color"]["rgb"], dtype=float)
        if a["class"] == "edge":
            # 5 px into the foreground side of the boundary is pure foreground (plus pixel noise)
            r = math.radians(a["fg_side_deg"])
            x = a["position"][0] * 64 + 5 * math.cos(r)
            y = a["position"][1] * 64 - 5 * math.sin(r)
            if 0 <= x < 64 and 0 <= y < 64:
                px = img[int(y), int(x)].astype(float)
                assert np.abs(px - fg).mean() < 15, (i, a)
                checked += 1
        if a["class"] == "line":
            x, y = (int(v * 64) for v in a["position"])
            assert np.abs(img[y, x] - fg).mean() < np.abs(img[y, x] - np.array(a["bg_color"]["rgb"])).mean() + 60
    assert checked >= 10


def test_concept_colours_are_not_the_class_cue():
    ds = ConceptDataset(seed=0, size=30 * K)
    by_class: dict[str, set[str]] = {}
    for i in range(len(ds)):
        a = ds.attributes(i)
        by_class.setdefault(a["class"], set()).add(a["fg_color"]["name"])
    assert all(len(names) >= 7 for names in by_class.values())


def test_concept_generation_is_fast():
    ds = ConceptDataset(seed=0, size=1000)
    ds.render(0)
    t = time.perf_counter()
    for i in range(200):
        ds.render(i)
    per_image = (time.perf_counter() - t) / 200
    assert per_image < 0.02  # ~0.3 ms on a quiet core; generous for a loaded CI machine


# ----------------------------------------------------------------------------- folders
@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "imgs"
    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "puppies").mkdir(parents=True)
    (root / "empty_class").mkdir()
    (root / ".hidden").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "cats" / "a.jpg", quality=95)
    Image.new("L", (16, 16), 77).save(root / "cats" / "gray.png")
    rgba = Image.new("RGBA", (20, 20), (0, 0, 255, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent -> white
    rgba.save(root / "dogs" / "rgba.png")
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xffthis is not really a jpeg")
    Image.new("RGB", (8, 8), (0, 255, 0)).save(root / "dogs" / "puppies" / "deep.webp")
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "empty_class" / "readme.md").write_text("no images here")
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "x.png")
    pal = Image.new("P", (10, 10), 1)
    pal.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    pal.save(root / "top.gif")
    arr16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(arr16).save(root / "cats" / "deep16.png")
    return root


def test_folder_dataset_lists_labels_and_converts(image_tree):
    ds = ImageFolderDataset(image_tree)
    assert isinstance(ds, ImageDataset)
    refs = [ds.ref(i) for i in range(len(ds))]
    assert refs == ["cats/a.jpg", "cats/deep16.png", "cats/gray.png", "dogs/broken.jpg", "dogs/puppies/deep.webp",
                    "dogs/rgba.png", "top.gif"]
    assert ds.classes == ["cats", "dogs"]
    labels = {ds.ref(i): ds.label(i) for i in range(len(ds))}
    assert labels["cats/a.jpg"] == 0 and labels["dogs/puppies/deep.webp"] == 1 and labels["top.gif"] is None
    for i, ref in enumerate(refs):
        if ref == "dogs/broken.jpg":
            with pytest.raises(UnreadableImage) as e:
                ds.load(i)
            assert e.value.ref == "dogs/broken.jpg" and e.value.reason
            continue
        img = ds.load(i)
        assert img.mode == "RGB", ref
    gray = np.asarray(ds.load(refs.index("cats/gray.png")))
    assert gray.shape == (16, 16, 3) and np.all(gray == 77)
    rgba = np.asarray(ds.load(refs.index("dogs/rgba.png")))
    assert tuple(rgba[0, 0]) == (255, 255, 255) and tuple(rgba[5, 5]) == (0, 0, 255)
    assert tuple(np.asarray(ds.load(refs.index("top.gif")))[0, 0]) == (255, 128, 0)
    deep16 = np.asarray(ds.load(refs.index("cats/deep16.png")))
    assert deep16[0, 0, 0] == 0 and deep16[-1, -1, 0] == round(63000 * 255 / 65535)
    assert ds.attributes(0) == {}
    assert ds.describe()["kind"] == "folder" and ds.describe()["root"] == str(image_tree.resolve())


def test_folder_verify_reports_unreadable_files(image_tree):
    ds = ImageFolderDataset(image_tree)
    bad = ds.verify()
    assert [r for r, _ in bad] == ["dogs/broken.jpg"] and bad[0][1]
    assert ds.require_readable() == bad


def test_folder_without_readable_images_errors(tmp_path):
    (tmp_path / "x.png").write_bytes(b"garbage")
    (tmp_path / "y.jpg").write_bytes(b"")
    ds = ImageFolderDataset(tmp_path)
    with pytest.raises(DatasetError, match="No readable images"):
        ds.require_readable()


def test_folder_errors_before_any_work(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope")
    f = tmp_path / "file.png"
    Image.new("RGB", (4, 4)).save(f)
    with pytest.raises(DatasetError, match="not a folder"):
        ImageFolderDataset(f)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="No image files"):
        ImageFolderDataset(empty)
    with pytest.raises(DatasetError):
        build_dataset({"kind": "folder", "root": str(tmp_path / "nope")})


def test_folder_non_recursive_and_sampling(image_tree, tmp_path):
    assert [ImageFolderDataset(image_tree, recursive=False).ref(0)] == ["top.gif"]
    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        Image.new("RGB", (4, 4), (i, i, i)).save(many / f"{i:02d}.png")
    a = ImageFolderDataset(many, max_images=10, seed=0)
    b = ImageFolderDataset(many, max_images=10, seed=0)
    c = ImageFolderDataset(many, max_images=10, seed=1)
    ra = [a.ref(i) for i in range(len(a))]
    assert len(a) == 10 and ra == [b.ref(i) for i in range(10)] and ra == sorted(ra)
    assert ra != [c.ref(i) for i in range(10)]
    assert len(ImageFolderDataset(many, max_images=100)) == 30


def test_build_dataset_round_trips_specs(image_tree):
    for ds in (ConceptDataset(seed=4, size=50, resolution=32), ImageFolderDataset(image_tree, max_images=3, seed=2)):
        again = build_dataset(json.loads(json.dumps(ds.describe())))
        assert type(again) is type(ds) and again.describe() == ds.describe()
        assert [again.ref(i) for i in range(len(again))] == [ds.ref(i) for i in range(len(ds))]
    assert len(build_dataset({"kind": "concepts", "size": 7})) == 7
    with pytest.raises(DatasetError, match="Unknown dataset kind"):
        build_dataset({"kind": "imagenet"})
    with pytest.raises(DatasetError, match="Unknown field"):
        build_dataset({"kind": "concepts", "sise": 3})


# ----------------------------------------------------------------------------- loader
def test_model_transform_resizes_shorter_side_and_centre_crops():
    t = model_transform(32)
    img = Image.new("RGB", (64, 32), (255, 0, 0))
    img.paste((0, 0, 255), (32, 0, 64, 32))  # left half red, right half blue
    x = t(img)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.allclose(x[:, 5, 3], torch.tensor([1.0, 0, 0])) and torch.allclose(x[:, 5, 28], torch.tensor([0, 0, 1.0]))
    big = t(Image.new("RGB", (300, 200), (10, 20, 30)))
    assert big.shape == (3, 32, 32) and abs(float(big[2].mean()) - 30 / 255) < 1e-3
    assert t(Image.new("L", (10, 50), 128)).shape == (3, 32, 32)


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_skips_and_counts_unreadable(image_tree, workers):
    ds = ImageFolderDataset(image_tree)
    skipped = SkippedImages()
    batches = iterate_batches(ds, model_transform(24), batch_size=3, num_workers=workers, skipped=skipped)
    got = list(batches)
    assert batches.skipped is skipped
    idx = torch.cat([i for i, _ in got]).tolist()
    broken = [ds.ref(i) for i in range(len(ds))].index("dogs/broken.jpg")
    assert idx == [i for i in range(len(ds)) if i != broken]  # deterministic order, failure dropped
    for i, x in got:
        assert x.shape == (len(i), 3, 24, 24) and x.dtype == torch.float32
    assert skipped.count == 1 and skipped.refs() == ["dogs/broken.jpg"]
    s = skipped.summary()
    assert s.startswith("1 image skipped: dogs/broken.jpg (") and len(s) > 35
    assert skipped.to_json()["count"] == 1


def test_loader_collector_accumulates_and_subsets():
    ds = ConceptDataset(size=20)
    it = iterate_batches(ds, model_transform(64), batch_size=8, indices=[3, 1, 2])
    (idx, x), = list(it)
    assert idx.tolist() == [3, 1, 2] and not it.skipped and it.skipped.summary() == "no images skipped"

    class Flaky:
        name, classes = "flaky", []

        def __len__(self):
            return 5

        def ref(self, i):
            return f"f{i}.png"

        def load(self, i):
            if i % 2:
                raise UnreadableImage(self.ref(i), "cannot identify image file")
            if i == 4:
                raise OSError("image file is truncated")
            return Image.new("RGB", (8, 8))

    shared = SkippedImages()
    for _ in iterate_batches(Flaky(), model_transform(8), 2, skipped=shared):
        pass
    assert shared.count == 3
    assert shared.summary() == ("3 images skipped: f1.png (cannot identify image file), "
                                "f3.png (cannot identify image file), f4.png (image file is truncated)")
    assert shared.summary(limit=1).endswith("and 2 more")


def test_folder_scan_survives_symlink_loops(image_tree):
    (image_tree / "cats" / "loop").symlink_to(image_tree, target_is_directory=True)
    ds = ImageFolderDataset(image_tree)
    refs = [ds.ref(i) for i in range(len(ds))]
    assert "cats/a.jpg" in refs and not any(r.startswith("cats/loop/cats/loop") for r in refs)
    assert ds.verify(workers=2) == [("dogs/broken.jpg", ds.verify()[0][1])]
