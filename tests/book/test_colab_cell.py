"""Each notebook's install cell, run as Colab would run it, with the installer stubbed.

The first code cell of every chapter installs ``hardattn_utils`` when (and only
when) ``google.colab`` is imported. Here it runs with a fake ``google.colab``
module and a stubbed ``subprocess.run`` (and stubbed IPython ``%pip``/``!``),
and the recorded command is checked: it installs the package from the
``repository.url`` of ``_config.yml``, every version specifier is quoted, and
torch and numpy are never reinstalled. Without ``google.colab`` it does nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import InvalidRequirement, Requirement

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PACKAGE = "hardattn-utils"
NEVER_REINSTALLED = {"torch", "numpy"}
FORBIDDEN_FLAGS = {"-U", "--upgrade", "--force-reinstall", "-I", "--ignore-installed", "--no-deps"}
SPECIFIER_CHARS = set("<>=!~@;")


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def install_cell(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, f"{notebook.name} has no code cell"
    source = "".join(code[0]["source"])
    assert "google.colab" in source, f"the first code cell of {notebook.name} is not the Colab install cell"
    return source


class Recorder:
    """Stands in for every way a cell can start an installer; records argv lists."""

    def __init__(self) -> None:
        self.commands: list[dict] = []

    def run(self, args, *rest, **kwargs):
        shell = kwargs.get("shell", False)
        self.commands.append({"argv": args, "shell": shell, "check": kwargs.get("check", False)})
        return subprocess.CompletedProcess(args, 0, "", "")

    def magic(self, name: str, line: str) -> None:  # %pip install ... -> pip install ...
        self.commands.append({"argv": f"{name} {line}", "shell": True, "check": True})

    def system(self, command: str) -> int:  # !pip install ...
        self.commands.append({"argv": command, "shell": True, "check": True})
        return 0


def run_cell(source: str, monkeypatch: pytest.MonkeyPatch, colab: bool) -> Recorder:
    """Execute the cell (IPython syntax allowed) with installers stubbed."""
    from IPython.core.inputtransformer2 import TransformerManager

    recorder = Recorder()
    for name in ("run", "call", "check_call", "check_output", "Popen"):
        monkeypatch.setattr(subprocess, name, recorder.run)
    monkeypatch.setattr(os, "system", recorder.system)
    if colab:
        if "google" not in sys.modules:
            monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    shell = types.SimpleNamespace(run_line_magic=recorder.magic, system=recorder.system)
    python = TransformerManager().transform_cell(source)
    exec(compile(python, "<install cell>", "exec"), {"__name__": "__main__", "get_ipython": lambda: shell})
    return recorder


def split(command: dict) -> list[str]:
    """The argv of a recorded command; shell strings must quote every specifier."""
    argv = command["argv"]
    if isinstance(argv, (list, tuple)):
        return [str(a) for a in argv]
    tokens = shlex.split(argv)
    for token in tokens:
        if SPECIFIER_CHARS & set(token):
            assert f'"{token}"' in argv or f"'{token}'" in argv, f"unquoted specifier {token!r} in {argv!r}"
    return tokens


def requirements(argv: list[str]) -> list[Requirement]:
    """The requirement arguments of a ``pip install`` command line."""
    assert "install" in argv, f"not a pip install: {argv}"
    found = []
    for arg in argv[argv.index("install") + 1 :]:
        if arg.startswith("-"):
            assert arg not in FORBIDDEN_FLAGS, f"{arg} could reinstall Colab's torch or numpy: {argv}"
            continue
        try:
            found.append(Requirement(arg))
        except InvalidRequirement as error:
            raise AssertionError(f"{arg!r} is not a requirement (quote it as one argument)") from error
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_in_colab(notebook, monkeypatch):
    recorder = run_cell(install_cell(notebook), monkeypatch, colab=True)
    assert len(recorder.commands) == 1, f"expected one install command, got {recorder.commands}"
    command = recorder.commands[0]
    assert command["check"], "a failed install must stop the notebook (check=True)"
    argv = split(command)
    assert "pip" in Path(argv[0]).name or argv[1:3] == ["-m", "pip"], f"not pip: {argv}"
    reqs = requirements(argv)
    assert {r.name.lower() for r in reqs} == {PACKAGE}, f"installs {[str(r) for r in reqs]}"
    assert not NEVER_REINSTALLED & {r.name.lower() for r in reqs}
    url = reqs[0].url or ""
    assert url.split("@")[0].removesuffix(".git") == f"git+{repository_url()}", (
        f"{notebook.name} installs from {url!r}, not from repository.url of _config.yml"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_outside_colab_does_nothing(notebook, monkeypatch):
    assert run_cell(install_cell(notebook), monkeypatch, colab=False).commands == []


def test_package_accepts_the_torch_and_numpy_colab_already_has():
    """Lower bounds only: pip keeps Colab's torch and numpy instead of replacing them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        req = Requirement(line)
        if req.name.lower() in NEVER_REINSTALLED:
            operators = {spec.operator for spec in req.specifier}
            assert operators <= {">="}, f"{line}: an upper bound or pin would reinstall {req.name} in Colab"


def test_recorder_catches_a_bad_cell(monkeypatch):
    """The checks can fail: an unquoted specifier and a torch reinstall are caught."""
    bad = 'import sys\nif "google.colab" in sys.modules:\n    !pip install -U torch hardattn-utils>=0.1\n'
    recorder = run_cell(bad, monkeypatch, colab=True)
    with pytest.raises(AssertionError, match="unquoted specifier"):
        split(recorder.commands[0])
    with pytest.raises(AssertionError, match="could reinstall"):
        requirements(["pip", "install", "-U", "torch"])
