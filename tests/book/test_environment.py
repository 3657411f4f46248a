"""environment.yml (conda/Binder) agrees with pyproject.toml and the Makefile's torch pin."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def env_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    reqs = [Requirement(line) for line in pip if not line.startswith("-")]
    return {r.name.lower(): r for r in reqs}


def makefile_torch() -> str:
    return re.search(r"^TORCH \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


def test_environment_lists_the_package_and_book_dependencies_with_the_same_specifiers():
    project = pyproject()["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["book"]]
    have = env_requirements()
    for req in wanted:
        assert req.name.lower() in have, f"environment.yml lacks {req.name}"
        if req.name != "torch":
            assert have[req.name.lower()].specifier == req.specifier, req.name


def test_torch_is_pinned_to_the_makefile_version_inside_the_package_range():
    pinned = Requirement(makefile_torch())
    env_torch = env_requirements()["torch"]
    assert env_torch.specifier == pinned.specifier
    version = Version(next(iter(pinned.specifier)).version)
    project_torch = next(
        Requirement(r) for r in pyproject()["project"]["dependencies"] if r.startswith("torch")
    )
    assert version in project_torch.specifier


def test_jupyter_book_is_pinned_below_2():
    book = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["book"]]
    jb = next(r for r in book if r.name == "jupyter-book")
    assert Version("1.0.4") in jb.specifier and Version("2.0.0") not in jb.specifier


def test_python_version_matches():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert Version(python.split("=")[-1]) in SpecifierSet(pyproject()["project"]["requires-python"])
