"""Real-image data sets as channels-first float32 arrays, with no downloads.

Every loader returns images of shape ``(n, C, H, W)``, dtype float32, the layout denoisers take
(DESIGN.md §2). Value ranges:

- :func:`load_mnist`, :func:`load_skimage_patches`, :func:`load_lfw_faces`,
  :func:`load_digits_images` and PNG/JPEG folders: grey levels in [0, 1] (0 = black;
  for MNIST 0 is the background).
- :func:`load_images` of a ``.npz``/``.h5``: unsigned integer arrays are scaled by their dtype's
  maximum (uint8 / 255) into [0, 1]; floating-point arrays are returned unchanged; a
  latticediff sample file gives its lattice values as float32 (±1 spins, 0/1 bits, Potts states;
  use :func:`latticediff.h5io.read_samples` to keep the discrete encoding).

Gaussian paths are usually run on data in [-1, 1]: :func:`to_signed` maps ``x -> 2x - 1`` and
:func:`from_signed` maps back (optionally clipping to [0, 1]).

Sources, all on this machine: MNIST IDX files in a directory the user names (tests use
``../shared/datasets/mnist``), scikit-image's bundled photographs and ``lfw_subset`` faces, and
scikit-learn's 8x8 digits. scikit-image, scikit-learn, h5py and matplotlib are imported only
inside the functions that need them.

>>> import numpy as np
>>> x = np.array([0.0, 0.25, 1.0], np.float32)
>>> to_signed(x).tolist(), from_signed(to_signed(x)).tolist()
([-1.0, -0.5, 1.0], [0.0, 0.25, 1.0])
"""

from __future__ import annotations

import gzip
import os
from functools import cache
from pathlib import Path

import numpy as np

from .errors import DataFileError, ParameterError

__all__ = [
    "load_mnist",
    "load_skimage_patches",
    "load_lfw_faces",
    "load_digits_images",
    "load_images",
    "to_signed",
    "from_signed",
    "MNIST_FILES",
    "SKIMAGE_PHOTOS",
    "DEFAULT_PHOTOS",
]

#: IDX file names of the two MNIST splits (each may also carry a ``.gz`` suffix).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801

#: Photographs bundled in the scikit-image wheel (``skimage.data.<name>()`` loads them without a
#: network connection; checked with scikit-image 0.26).
SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
#: The natural photographs (no text pages, no microscopy) :func:`load_skimage_patches` uses.
DEFAULT_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "moon",
    "rocket",
)


# ----------------------------------------------------------------------------------------------
# small helpers


def to_signed(x):
    """Map images in [0, 1] to [-1, 1] (``2x - 1``), the usual range on Gaussian paths.

    >>> import numpy as np
    >>> to_signed(np.array([0.0, 0.5, 1.0])).tolist()
    [-1.0, 0.0, 1.0]
    """
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.float32
    return (2.0 * x - 1.0).astype(dt, copy=False)


def from_signed(x, *, clip: bool = True):
    """Inverse of :func:`to_signed`: ``(x + 1) / 2``, clipped to [0, 1] unless ``clip=False``
    (generated samples can leave the range slightly).

    >>> import numpy as np
    >>> from_signed(np.array([-1.2, 0.0, 1.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.float32
    y = (x + 1.0) / 2.0
    if clip:
        y = np.clip(y, 0.0, 1.0)
    return y.astype(dt, copy=False)


def _check_count(name: str, n, lo: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < lo:
        raise ParameterError(f"{name} must be an integer >= {lo}, got {n!r}")
    return int(n)


def _to_unit(a: np.ndarray, where: str) -> np.ndarray:
    """Integer images scaled by their dtype maximum into [0, 1]; floats unchanged; as float32."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype.kind == "u":
        return (a.astype(np.float64) / np.iinfo(a.dtype).max).astype(np.float32)
    if a.dtype.kind in "if":
        return a.astype(np.float32)
    raise DataFileError(f"{where}: images must be numbers, got dtype {a.dtype}")


def _gray(img: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) in [0, 1] -> (H, W) luminance (alpha dropped)."""
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] in (3, 4):
        from skimage.color import rgb2gray

        return rgb2gray(img[..., :3])
    if img.ndim == 3 and img.shape[2] in (1, 2):  # grey (+ alpha)
        return img[..., 0]
    raise ParameterError(f"cannot convert an image of shape {img.shape} to grey levels")


# ----------------------------------------------------------------------------------------------
# MNIST


def _open_idx(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataFileError(f"{path}: cannot read the IDX file ({e})") from None


def _parse_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """An IDX array of unsigned bytes: big-endian magic (0x0000080<ndim>), then ``ndim`` int32
    sizes, then the data (LeCun et al., the MNIST database format)."""
    raw = _open_idx(path)
    head = 4 + 4 * ndim
    if len(raw) >= 4:
        got = int.from_bytes(raw[:4], "big")
        if got != magic:
            raise DataFileError(
                f"{path}: bad IDX magic number 0x{got:08x}, expected 0x{magic:08x} "
                f"(uint8 data with {ndim} dimension{'s' if ndim > 1 else ''})"
            )
    if len(raw) < head:
        raise DataFileError(f"{path}: truncated IDX header ({len(raw)} bytes, need {head})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) != head + size:
        raise DataFileError(
            f"{path}: IDX header says {dims} = {size} bytes of data, the file has {len(raw) - head}"
        )
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def load_mnist(path, *, split: str = "test", n: int | None = None):
    """MNIST digits from the original IDX files in a directory.

    Parameters
    ----------
    path : directory holding ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (split
        "test") or ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (split "train"),
        each optionally gzip-compressed with a ``.gz`` suffix (see :data:`MNIST_FILES`).
    split : "test" or "train".
    n : the first ``n`` images (default: all).

    Returns
    -------
    images : float32 ``(n, 1, 28, 28)`` in [0, 1] (pixel / 255; 0 = background)
    labels : int64 ``(n,)`` in 0..9

    A missing directory, missing files or malformed files (bad magic number, sizes that do not
    match the data, image and label counts that differ, labels > 9) raise
    :class:`~latticediff.errors.DataFileError` naming the expected files.

    >>> load_mnist("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.DataFileError: MNIST directory /nonexistent does not exist; ...
    """
    if split not in MNIST_FILES:
        raise ParameterError(f"split must be one of {tuple(MNIST_FILES)}, got {split!r}")
    folder = Path(os.fspath(path))
    stems = MNIST_FILES[split]
    expect = " and ".join(f"{s}[.gz]" for s in stems)
    if not folder.is_dir():
        raise DataFileError(
            f"MNIST directory {folder} does not exist; it should hold the {split} split as {expect}"
        )
    files = [_find_idx(folder, s) for s in stems]
    missing = [s for s, f in zip(stems, files, strict=True) if f is None]
    if missing:
        raise DataFileError(
            f"MNIST directory {folder} lacks {', '.join(m + '[.gz]' for m in missing)} "
            f"(the {split} split needs {expect})"
        )
    if n is not None:
        n = _check_count("n", n)
    images = _parse_idx(files[0], _IDX_IMAGES, 3)
    labels = _parse_idx(files[1], _IDX_LABELS, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataFileError(
            f"MNIST directory {folder}: {files[0].name} holds {images.shape[0]} images but "
            f"{files[1].name} holds {labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise DataFileError(f"{files[1]}: labels must be 0..9, found {int(labels.max())}")
    if n is not None:
        if n > images.shape[0]:
            raise ParameterError(
                f"n must be <= {images.shape[0]} (images in the {split} split), got {n}"
            )
        images, labels = images[:n], labels[:n]
    x = (images.astype(np.float32) / np.float32(255.0))[:, None]
    return x, labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# scikit-image and scikit-learn data


@cache
def _skimage_photo(name: str) -> np.ndarray:
    """A bundled photograph as grey levels in [0, 1], float64 (H, W), read-only (cached)."""
    import skimage.data

    if name not in SKIMAGE_PHOTOS:
        raise ParameterError(f"photo must be one of {SKIMAGE_PHOTOS}, got {name!r}")
    try:
        img = getattr(skimage.data, name)()
    except Exception as e:  # a missing file would make scikit-image try to download it
        raise DataFileError(
            f"scikit-image could not load its bundled photo {name!r} ({type(e).__name__}: {e})"
        ) from None
    img = np.asarray(img)
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    out = np.array(_gray(img), dtype=np.float64)
    out.flags.writeable = False
    return out


def load_skimage_patches(
    size: int = 32, n: int = 1000, seed: int = 0, *, photos=DEFAULT_PHOTOS
) -> np.ndarray:
    """Random square grey-level patches of scikit-image's bundled photographs.

    Each patch picks a photo uniformly from ``photos`` (names in :data:`SKIMAGE_PHOTOS`) and a
    uniformly random position inside it; colour photos are converted to luminance
    (``skimage.color.rgb2gray``). Deterministic under ``seed``.

    Returns float32 ``(n, 1, size, size)`` in [0, 1].

    >>> x = load_skimage_patches(size=16, n=4, seed=1)
    >>> x.shape, x.dtype, bool(0 <= x.min() and x.max() <= 1)
    ((4, 1, 16, 16), dtype('float32'), True)
    """
    size = _check_count("size", size)
    n = _check_count("n", n)
    if isinstance(photos, str):
        photos = (photos,)
    photos = tuple(photos)
    if not photos:
        raise ParameterError(f"photos must name at least one of {SKIMAGE_PHOTOS}")
    imgs = [_skimage_photo(p) for p in photos]
    small = [(p, im.shape) for p, im in zip(photos, imgs, strict=True) if min(im.shape) < size]
    if small:
        raise ParameterError(
            f"size must be <= the smallest side of every photo, got size={size}; too small: "
            + ", ".join(f"{p} {s}" for p, s in small)
        )
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(imgs), size=n)
    out = np.empty((n, 1, size, size), np.float32)
    for k, w in enumerate(which):
        im = imgs[w]
        i = rng.integers(0, im.shape[0] - size + 1)
        j = rng.integers(0, im.shape[1] - size + 1)
        out[k, 0] = im[i : i + size, j : j + size]
    return out


def load_lfw_faces(size: int | None = None, *, faces_only: bool = True) -> np.ndarray:
    """Faces from scikit-image's ``lfw_subset`` (Labeled Faces in the Wild, 25 x 25 crops).

    ``faces_only=True`` gives the 100 faces; False gives all 200 images (the last 100 are
    non-face background crops). ``size`` resizes to ``size x size`` (anti-aliased,
    ``skimage.transform.resize``); None keeps 25 x 25.

    Returns float32 ``(n, 1, H, W)`` in [0, 1].

    >>> load_lfw_faces().shape, load_lfw_faces(16, faces_only=False).shape
    ((100, 1, 25, 25), (200, 1, 16, 16))
    """
    import skimage.data

    imgs = np.asarray(skimage.data.lfw_subset())
    imgs = imgs.astype(np.float64) / 255.0 if imgs.dtype == np.uint8 else imgs.astype(np.float64)
    if faces_only:
        imgs = imgs[:100]
    if size is not None:
        size = _check_count("size", size)
        if size != imgs.shape[1]:
            from skimage.transform import resize

            imgs = resize(imgs, (imgs.shape[0], size, size), anti_aliasing=True, order=1)
    return np.clip(imgs, 0.0, 1.0).astype(np.float32)[:, None]


def load_digits_images():
    """scikit-learn's 8 x 8 handwritten digits (1797 images, UCI optical digits).

    Returns ``(images, labels)``: float32 ``(1797, 1, 8, 8)`` in [0, 1] (the 0..16 counts
    divided by 16; 0 = background) and int64 labels 0..9.

    >>> x, y = load_digits_images()
    >>> x.shape, float(x.max()), int(y[0])
    ((1797, 1, 8, 8), 1.0, 0)
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (np.asarray(d.images, np.float64) / 16.0).astype(np.float32)[:, None]
    return x, np.asarray(d.target, np.int64)


# ----------------------------------------------------------------------------------------------
# any file or folder

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _channels_first(a: np.ndarray, where: str, channels_last: bool | None) -> np.ndarray:
    """(n, H, W) -> (n, 1, H, W); (n, H, W, C) -> (n, C, H, W) when asked or unambiguous."""
    if a.ndim == 3:
        return a[:, None]
    if a.ndim != 4:
        raise DataFileError(
            f"{where}: images must have shape (n, H, W), (n, C, H, W) or (n, H, W, C), "
            f"got {a.shape}"
        )
    if channels_last is None:
        # Guess only when exactly one of the two layouts has a plausible channel count.
        first, last = a.shape[1] in (1, 2, 3, 4), a.shape[3] in (1, 2, 3, 4)
        channels_last = last and not first
    return np.moveaxis(a, 3, 1) if channels_last else a


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            if key is None:
                if "images" in keys:
                    key = "images"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise DataFileError(
                        f"{path}: holds arrays {keys}; name one with key= (or store it as 'images')"
                    )
            if key not in keys:
                raise DataFileError(f"{path}: no array {key!r}; arrays: {keys}")
            return np.asarray(z[key])
    except (OSError, ValueError) as e:
        raise DataFileError(f"{path}: not a readable .npz file ({e})") from None


def _load_h5(path: Path, key: str | None) -> tuple[np.ndarray, bool]:
    """Returns (array, is_lattice_sample_file)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            k = "images" if key is None else key
            if k in f and isinstance(f[k], h5py.Dataset):
                return np.asarray(f[k][()]), False
    except OSError as e:
        raise DataFileError(f"{path}: not a readable HDF5 file ({e})") from None
    from .h5io import read_samples

    try:
        ss = read_samples(path, key)
    except ParameterError as e:
        raise DataFileError(str(e)) from None
    except DataFileError as e:
        raise DataFileError(
            f"{path}: neither a data set named 'images' nor a latticediff samples file ({e})"
        ) from None
    x = ss.samples
    if ss.model.name != "loopgas":
        x = x[:, None]  # Ising/Potts (n, L, L) -> (n, 1, L, L); the loop gas is (n, 2, L, L)
    return x, True


def _load_folder(path: Path, grayscale: bool) -> np.ndarray:
    import matplotlib.image as mpimg

    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(f"{path}: no image files ({', '.join(_IMAGE_SUFFIXES)}) found")
    out, shape0 = [], None
    for p in files:
        try:
            img = np.asarray(mpimg.imread(p))
        except Exception as e:  # PIL raises many types for broken files
            raise DataFileError(f"{p}: cannot read the image ({type(e).__name__}: {e})") from None
        # matplotlib gives PNGs as float32 in [0, 1] and other formats as uint8.
        img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
        if grayscale:
            img = _gray(img)[None]
        elif img.ndim == 2:
            img = img[None]
        else:
            img = np.moveaxis(img[..., :3] if img.shape[2] == 4 else img, 2, 0)
        if shape0 is None:
            shape0, first = img.shape, p
        elif img.shape != shape0:
            raise DataFileError(
                f"{path}: all images must have the same size; {first.name} is "
                f"{shape0[1]}x{shape0[2]} with {shape0[0]} channel(s), {p.name} is "
                f"{img.shape[1]}x{img.shape[2]} with {img.shape[0]}"
            )
        out.append(img)
    return np.stack(out).astype(np.float32)


def load_images(
    path, *, key: str | None = None, grayscale: bool = True, channels_last: bool | None = None
) -> np.ndarray:
    """Images from a ``.npz`` file, an ``.h5`` file or a folder of PNG/JPEG files.

    - ``.npz``: the array ``key``, else the array named ``images``, else the only array.
    - ``.h5``/``.hdf5``: the data set ``key`` or ``images`` at the root; otherwise a latticediff
      samples file (:func:`latticediff.h5io.read_samples`, ``key`` = data set name), whose
      lattice values come back as float32 with a channel axis (Ising ``(n, 1, L, L)``, loop gas
      ``(n, 2, L, L)``).
    - a folder: every ``*.png``, ``*.jpg``, ``*.jpeg`` in it (sorted by name, subfolders
      ignored), read with matplotlib; all must have the same size. ``grayscale=True`` converts
      colour to luminance (alpha dropped); False keeps RGB as 3 channels.

    Arrays of shape ``(n, H, W)`` get a channel axis; ``(n, H, W, C)`` is moved to channels-first
    when ``channels_last=True``, or when None and only the last axis looks like channels
    (1-4 entries). Integer (unsigned) arrays are scaled into [0, 1] by their dtype maximum,
    floating-point arrays are kept as they are (see the module docstring). Returns float32
    ``(n, C, H, W)``. A missing or unreadable path raises
    :class:`~latticediff.errors.DataFileError`.

    >>> import os, tempfile, numpy as np
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "x.npz")
    >>> np.savez(p, images=np.full((3, 5, 5), 255, np.uint8))
    >>> x = load_images(p); x.shape, float(x.max())
    ((3, 1, 5, 5), 1.0)
    >>> import shutil; shutil.rmtree(d)
    """
    p = Path(os.fspath(path))
    if not p.exists():
        raise DataFileError(
            f"{p} does not exist (expected a .npz or .h5 file, or a folder of PNG/JPEG images)"
        )
    if p.is_dir():
        return _load_folder(p, grayscale)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        a = _load_npz(p, key)
    elif suffix in (".h5", ".hdf5"):
        a, lattice = _load_h5(p, key)
        if lattice:
            return a.astype(np.float32)
    else:
        raise DataFileError(
            f"{p}: unsupported file type {suffix!r} (use .npz, .h5/.hdf5 or a folder of "
            "PNG/JPEG images)"
        )
    a = _channels_first(a, str(p), channels_last)
    if a.shape[0] == 0:
        raise DataFileError(f"{p}: holds no images (shape {a.shape})")
    return _to_unit(a, str(p))
