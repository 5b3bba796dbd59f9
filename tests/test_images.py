"""Image loaders: MNIST IDX files (real and hand-written), bundled photos, faces, digits, and
user files (.npz, .h5, folders of PNG/JPEG); clear errors for missing or malformed input."""

import doctest
import gzip
import struct

import numpy as np
import pytest

import latticediff as ld

# ----------------------------------------------------------------------------------------------
# MNIST
import latticediff.images as images_module
from latticediff.errors import DataFileError, ParameterError
from latticediff.images import (
    DEFAULT_PHOTOS,
    SKIMAGE_PHOTOS,
    from_signed,
    load_digits_images,
    load_images,
    load_lfw_faces,
    load_mnist,
    load_skimage_patches,
    to_signed,
)


def test_doctests():
    res = doctest.testmod(images_module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted >= 8 and res.failed == 0


def test_mnist_test_split(mnist_dir):
    x, y = load_mnist(mnist_dir)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first labels
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(x.mean()) - 0.1325) < 5e-4  # mean grey level of the test split
    x5, y5 = load_mnist(str(mnist_dir), n=5)
    assert np.array_equal(x5, x[:5]) and np.array_equal(y5, y[:5])
    with pytest.raises(ParameterError, match="n must be <= 10000"):
        load_mnist(mnist_dir, n=10001)
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte\\[.gz\\]"):
        load_mnist(mnist_dir, split="train")  # only the test split is shared


def _idx(magic, dims, data: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + data


def _write_mnist(folder, images: np.ndarray, labels: np.ndarray, *, prefix="t10k", gz=False):
    n, h, w = images.shape
    files = {
        f"{prefix}-images-idx3-ubyte": _idx(0x803, (n, h, w), images.astype(np.uint8).tobytes()),
        f"{prefix}-labels-idx1-ubyte": _idx(0x801, (n,), labels.astype(np.uint8).tobytes()),
    }
    for name, raw in files.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_handwritten_idx_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([3, 0, 9])
    _write_mnist(tmp_path, imgs, labels, prefix="train", gz=gz)
    x, y = load_mnist(tmp_path, split="train")
    assert np.array_equal(np.round(x[:, 0] * 255).astype(np.uint8), imgs)
    assert y.tolist() == [3, 0, 9]


def test_mnist_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist.*t10k-images-idx3-ubyte"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(DataFileError, match="lacks t10k-images-idx3-ubyte.*t10k-labels"):
        load_mnist(tmp_path)
    with pytest.raises(ParameterError, match="split must be"):
        load_mnist(tmp_path, split="validation")
    imgs = np.zeros((2, 28, 28), np.uint8)
    _write_mnist(tmp_path, imgs, np.array([1, 2]))
    f_img = tmp_path / "t10k-images-idx3-ubyte"
    f_lab = tmp_path / "t10k-labels-idx1-ubyte"
    good_img, good_lab = f_img.read_bytes(), f_lab.read_bytes()
    # bad magic number (e.g. the label file in place of the images)
    f_img.write_bytes(good_lab)
    with pytest.raises(DataFileError, match="bad IDX magic number 0x00000801, expected 0x00000803"):
        load_mnist(tmp_path)
    # truncated data
    f_img.write_bytes(good_img[:-10])
    with pytest.raises(DataFileError, match="header says \\(2, 28, 28\\)"):
        load_mnist(tmp_path)
    # truncated header
    f_img.write_bytes(good_img[:6])
    with pytest.raises(DataFileError, match="truncated IDX header"):
        load_mnist(tmp_path)
    # image and label counts differ
    f_img.write_bytes(good_img)
    f_lab.write_bytes(_idx(0x801, (3,), bytes([1, 2, 3])))
    with pytest.raises(DataFileError, match="2 images but .* 3 labels"):
        load_mnist(tmp_path)
    # labels out of range
    f_lab.write_bytes(_idx(0x801, (2,), bytes([1, 12])))
    with pytest.raises(DataFileError, match="labels must be 0..9, found 12"):
        load_mnist(tmp_path)
    # a broken gzip file
    f_lab.write_bytes(good_lab)
    f_img.unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFileError, match="cannot read the IDX file"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------------------------------------
# bundled data


def test_skimage_patches():
    x = load_skimage_patches(size=16, n=50, seed=3)
    assert x.shape == (50, 1, 16, 16) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05
    assert np.array_equal(x, load_skimage_patches(size=16, n=50, seed=3))
    assert not np.array_equal(x, load_skimage_patches(size=16, n=50, seed=4))
    cam = load_skimage_patches(size=512, n=1, seed=0, photos="camera")  # the whole photo
    import skimage.data

    assert np.allclose(cam[0, 0], skimage.data.camera() / 255.0, atol=1e-6)
    with pytest.raises(ParameterError, match="smallest side"):
        load_skimage_patches(size=400, n=1, photos=("camera", "coins"))
    with pytest.raises(ParameterError, match="photo must be one of"):
        load_skimage_patches(size=8, n=1, photos=("lena",))
    with pytest.raises(ParameterError, match="n must be an integer >= 1"):
        load_skimage_patches(size=8, n=0)


def test_every_listed_photo_loads_offline():
    from latticediff.images import _skimage_photo

    assert set(DEFAULT_PHOTOS) <= set(SKIMAGE_PHOTOS)
    for name in SKIMAGE_PHOTOS:
        img = _skimage_photo(name)
        assert img.ndim == 2 and min(img.shape) >= 150 and 0 <= img.min() and img.max() <= 1


def test_lfw_faces_and_digits():
    f = load_lfw_faces()
    assert f.shape == (100, 1, 25, 25) and f.dtype == np.float32
    assert 0 <= f.min() and f.max() <= 1 and f.std() > 0.05
    g = load_lfw_faces(size=12, faces_only=False)
    assert g.shape == (200, 1, 12, 12)
    x, y = load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0 and y.shape == (1797,) and set(y) == set(range(10))


def test_signed_maps():
    x = np.linspace(0, 1, 5, dtype=np.float32)
    s = to_signed(x)
    assert s.dtype == np.float32 and s.min() == -1 and s.max() == 1
    assert np.allclose(from_signed(s), x)
    assert from_signed(np.array([-3.0, 3.0])).tolist() == [0.0, 1.0]
    assert from_signed(np.array([-3.0]), clip=False).tolist() == [-1.0]
    assert to_signed(np.array([0, 1], np.uint8)).dtype == np.float32


# ----------------------------------------------------------------------------------------------
# user files


def test_load_images_npz(tmp_path):
    a = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    np.savez(tmp_path / "one.npz", a)  # the single array, any name
    x = load_images(tmp_path / "one.npz")
    assert x.shape == (2, 1, 4, 5) and x.dtype == np.float32 and np.allclose(x[:, 0], a / 255)
    rgb = np.random.default_rng(0).random((3, 6, 7, 3))
    np.savez(tmp_path / "many.npz", images=rgb, labels=np.arange(3))
    x = load_images(tmp_path / "many.npz")  # 'images'; channels-last detected
    assert x.shape == (3, 3, 6, 7) and np.allclose(x, np.moveaxis(rgb, 3, 1))
    assert load_images(tmp_path / "many.npz", key="images", channels_last=False).shape == (
        3,
        6,
        7,
        3,
    )
    x16 = load_images(_save(tmp_path / "u16.npz", np.full((2, 3, 3), 65535, np.uint16)))
    assert x16.max() == 1.0
    signed = np.full((2, 3, 3), -0.5)
    assert load_images(_save(tmp_path / "f.npz", signed)).min() == -0.5  # floats unchanged
    np.savez(tmp_path / "two.npz", a=a, b=a)
    with pytest.raises(DataFileError, match="name one with key="):
        load_images(tmp_path / "two.npz")
    with pytest.raises(DataFileError, match="no array 'c'"):
        load_images(tmp_path / "two.npz", key="c")
    np.savez(tmp_path / "obj.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFileError, match="not a readable .npz"):
        load_images(tmp_path / "obj.npz")  # pickled objects are refused
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 3)))
    with pytest.raises(DataFileError, match="shape \\(n, H, W\\)"):
        load_images(tmp_path / "bad.npz")
    with pytest.raises(DataFileError, match="does not exist"):
        load_images(tmp_path / "missing.npz")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataFileError, match="unsupported file type '.txt'"):
        load_images(tmp_path / "x.txt")
    (tmp_path / "broken.npz").write_bytes(b"garbage")
    with pytest.raises(DataFileError, match="not a readable .npz"):
        load_images(tmp_path / "broken.npz")


def _save(path, arr):
    np.savez(path, images=arr)
    return path


def test_load_images_h5(tmp_path):
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["images"] = np.full((4, 5, 5), 255, np.uint8)
    x = load_images(tmp_path / "plain.h5")
    assert x.shape == (4, 1, 5, 5) and x.max() == 1.0
    spins = np.where(np.random.default_rng(0).random((3, 4, 4)) < 0.5, -1, 1).astype(np.int8)
    ld.write_samples(tmp_path / "ising.h5", spins, model=ld.Ising(L=4, T=2.0), name="a")
    x = load_images(tmp_path / "ising.h5")
    assert x.shape == (3, 1, 4, 4) and x.dtype == np.float32 and np.array_equal(x[:, 0], spins)
    loops = np.zeros((2, 2, 3, 3), np.uint8)
    ld.write_samples(tmp_path / "lg.h5", loops, model=ld.LoopGas(L=3), name="empty")
    assert load_images(tmp_path / "lg.h5", key="empty").shape == (2, 2, 3, 3)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["stuff"] = np.zeros(3)
    with pytest.raises(DataFileError, match="neither a data set named 'images'"):
        load_images(tmp_path / "other.h5")
    (tmp_path / "junk.h5").write_bytes(b"no hdf5 here")
    with pytest.raises(DataFileError, match="junk.h5"):
        load_images(tmp_path / "junk.h5")


def test_load_images_folder(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, size=(2, 6, 9)).astype(np.uint8)
    for k, g in enumerate(grey):
        mpimg.imsave(tmp_path / f"img{k}.png", g, cmap="gray", vmin=0, vmax=255)
    (tmp_path / "notes.txt").write_text("ignored")
    x = load_images(tmp_path)
    assert x.shape == (2, 1, 6, 9) and x.dtype == np.float32
    assert np.allclose(x[:, 0], grey / 255.0, atol=1e-2)  # luminance of grey RGB(A) = grey
    rgb = load_images(tmp_path, grayscale=False)
    assert rgb.shape == (2, 3, 6, 9)
    # a JPEG of another size is an error naming both files
    from PIL import Image

    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "z.jpg")
    with pytest.raises(DataFileError, match="same size; img0.png is 6x9 .* z.jpg is 5x5"):
        load_images(tmp_path)
    jpgs = tmp_path / "jpgs"
    jpgs.mkdir()
    Image.fromarray(np.full((5, 5, 3), 255, np.uint8)).save(jpgs / "a.jpeg")
    assert load_images(jpgs).shape == (1, 1, 5, 5) and load_images(jpgs).min() > 0.99
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFileError, match="no image files"):
        load_images(empty)
    (jpgs / "b.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match="b.png: cannot read the image"):
        load_images(jpgs)
