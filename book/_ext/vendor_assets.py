"""Fetch the JavaScript the site serves itself, so it works without internet.

A default Jupyter Book loads MathJax, require.js and the ipywidgets embed
manager from CDNs; a reader offline (or a CI machine) then sees raw ``$$``
and broken widgets. This module downloads pinned npm packages from the npm
registry once, checks their sha512 integrity, and unpacks the few files the
site needs into ``book/_static/vendor/`` (git-ignored).

Run it directly (``python book/_ext/vendor_assets.py``) or let the
``site_assets`` Sphinx extension call :func:`ensure_vendor_assets` at build time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import NamedTuple

REGISTRY = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")
VENDOR_DIR = Path(__file__).resolve().parents[1] / "_static" / "vendor"


class Package(NamedTuple):
    """One pinned npm package and the members of its tarball the site needs."""

    name: str  # npm name, e.g. "@jupyter-widgets/html-manager"
    version: str
    integrity: str  # "sha512-..." exactly as ``npm view NAME@VERSION dist.integrity`` prints it
    target: str  # folder under book/_static/vendor/
    strip: str  # tarball prefix removed from member names
    keep: tuple[str, ...]  # member prefixes (after stripping) to unpack

    @property
    def url(self) -> str:
        """The registry's tarball address (what ``npm pack NAME@VERSION`` downloads)."""
        return f"{REGISTRY}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


PACKAGES = (
    Package(
        "mathjax",
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "mathjax",
        "package/es5/",
        (
            "tex-mml-chtml.js",
            "input/tex/extensions/",
            "output/chtml/fonts/woff-v2/",
            "ui/",
            "a11y/",
            "adaptors/",
        ),
    ),
    Package(
        "requirejs",
        "2.3.4",
        "sha512-qPD5gRrj6kGQ0ZySAJgqbArkaDqPMbQIT0zSZDkIv1mfA17w/tR2Faq5l2qqRf2CdQx6FWln9nUrgd2UDzb19A==",
        "widgets",
        "package/",
        ("require.js",),
    ),
    Package(
        "@jupyter-widgets/html-manager",
        "1.0.6",
        "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
        "widgets",
        "package/dist/",
        ("embed-amd.js", "embed.js.LICENSE.txt", ".woff2", ".woff"),
    ),
    # Vega, Vega-Lite and vega-embed draw the kernel-free explorers (ha.sweep_chart).
    Package(
        "vega",
        "6.3.0",
        "sha512-L/ykPslBI5QiElzs7jD01c/0EP2yzJ0SdQ3WLZkgBsmykNkhfilWLAa24RzDx67rilNLdeBCJVCmogi40xJ6yA==",
        "vega",
        "package/build/",
        ("vega.min.js",),
    ),
    Package(
        "vega-lite",
        "6.4.1",
        "sha512-KO3ybHNouRK4A0al/+2fN9UqgTEfxrd/ntGLY933Hg5UOYotDVQdshR3zn7OfXwQ7uj0W96Vfa5R+QxO8am3IQ==",
        "vega",
        "package/build/",
        ("vega-lite.min.js",),
    ),
    Package(
        "vega-embed",
        "7.3.0",
        "sha512-wQ8s5GaSzqoKgmRfbRolgBrjE2CP7ZKHXqH7NijxMqPjpdWxSs4Dn8tvp9g0giQvh2cK+3p56sxjWWM0wNngGw==",
        "vega",
        "package/build/",
        ("vega-embed.min.js",),
    ),
)
#: Files whose presence means the vendor folder is complete (checked before every build).
REQUIRED = (
    "mathjax/tex-mml-chtml.js",
    "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
    "widgets/require.js",
    "widgets/embed-amd.js",
    "vega/vega.min.js",
    "vega/vega-lite.min.js",
    "vega/vega-embed.min.js",
)
_STAMP = ".complete-" + "-".join(f"{p.name.split('/')[-1]}{p.version}" for p in PACKAGES)


def _download(package: Package) -> bytes:
    """The package's tarball, checked against its pinned sha512 integrity."""
    request = urllib.request.Request(package.url, headers={"User-Agent": "hard-attention-book"})
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (fixed https URL)
        data = response.read()
    algorithm, expected = package.integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"integrity mismatch for {package.name}@{package.version} from {package.url}")
    return data


def _matches(relative: str, keep: str) -> bool:
    """``keep`` is a path prefix, or a suffix when it starts with a dot (".woff2")."""
    return relative.endswith(keep) if keep.startswith(".") else relative.startswith(keep)


def _unpack(package: Package, data: bytes, vendor_dir: Path) -> None:
    """Unpack the kept members of one tarball into ``vendor_dir / package.target``."""
    root = vendor_dir / package.target
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(package.strip):
                continue
            relative = member.name[len(package.strip) :]
            if not any(_matches(relative, k) for k in package.keep):
                continue
            if ".." in Path(relative).parts:
                raise RuntimeError(f"unsafe path {member.name!r} in {package.name}")
            destination = root / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            destination.write_bytes(source.read())


def vendor_complete(vendor_dir: Path = VENDOR_DIR) -> bool:
    """Whether every pinned package is already unpacked."""
    return (vendor_dir / _STAMP).exists() and all((vendor_dir / f).is_file() for f in REQUIRED)


def ensure_vendor_assets(vendor_dir: Path = VENDOR_DIR, log=print) -> Path:
    """Download and unpack the pinned packages unless already present; return the folder."""
    if vendor_complete(vendor_dir):
        return vendor_dir
    if vendor_dir.exists():
        shutil.rmtree(vendor_dir)
    vendor_dir.mkdir(parents=True)
    for package in PACKAGES:
        log(f"fetching {package.name}@{package.version} from {REGISTRY}")
        try:
            data = _download(package)
        except OSError as error:
            raise RuntimeError(
                f"could not download {package.url} ({error}); the site serves its own MathJax and "
                "widget manager and Vega, fetched once from the npm registry (set NPM_REGISTRY for a mirror)"
            ) from error
        _unpack(package, data, vendor_dir)
    pins = "".join(f"{p.name}@{p.version} {p.integrity}\n" for p in PACKAGES)
    (vendor_dir / _STAMP).write_text(pins)
    return vendor_dir


if __name__ == "__main__":
    print(ensure_vendor_assets(Path(sys.argv[1]) if len(sys.argv) > 1 else VENDOR_DIR))
