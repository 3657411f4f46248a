"""The pinned numeric environment: detection, override of the user's shell, kernel spec."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardattn_utils import numerics

SCRIPT = Path(numerics.__file__)


@pytest.mark.parametrize(
    ("machine", "flags", "ok"),
    [
        ("x86_64", {"sse2", "avx2", "avx512f"}, True),
        ("AMD64", {"avx2"}, True),
        ("x86_64", {"sse2", "avx"}, False),
        ("x86_64", None, True),  # flags unreadable: every x86-64 CPU since 2013 has AVX2
        ("aarch64", {"neon"}, False),
        ("arm64", None, False),
        ("", None, False),
    ],
)
def test_pin_applies_only_on_x86_64_with_avx2(machine, flags, ok, monkeypatch):
    monkeypatch.setattr(numerics, "_cpu_flags", lambda: None)
    applies, why = numerics.pin_support(machine, flags)
    assert applies is ok
    assert why == "avx2" if ok else why


def test_pinned_values_replace_the_users_exports():
    user = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "4", "HOME": "/h"}
    env = numerics.pinned_environ(user, machine="x86_64", flags={"avx2"})
    assert {k: env[k] for k in numerics.PIN} == numerics.PIN
    assert env["OMP_NUM_THREADS"] == "1" and env["HOME"] == "/h" and env[numerics.MARKER] == "avx2"
    assert numerics.numeric_pin(env).startswith("pinned: ATen, MKL, oneDNN, faiss and OpenBLAS on AVX2")


def test_without_the_pin_the_vector_settings_are_removed_and_the_marker_says_why():
    user = {"ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "8"}
    env = numerics.pinned_environ(user, machine="aarch64", flags=None)
    assert "ATEN_CPU_CAPABILITY" not in env and env["OMP_NUM_THREADS"] == "1"
    assert env[numerics.MARKER].startswith("none: aarch64")
    assert numerics.numeric_pin(env).startswith("not pinned (aarch64")
    assert numerics.numeric_pin({}).startswith("not pinned (started outside")


def test_nbval_runs_lax_where_the_pin_cannot_apply():
    assert numerics._nbval_args(True)[0] == "--nbval"
    assert numerics._nbval_args(False) == ["--nbval-lax"]


def test_exec_runs_a_command_in_the_pinned_environment_whatever_the_shell_says():
    shell = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "4"}
    env = json.loads(_run_pinned(shell, "import os, json; print(json.dumps(dict(os.environ)))"))
    applies, _ = numerics.pin_support()
    assert env["OMP_NUM_THREADS"] == "1"
    assert env.get("ATEN_CPU_CAPABILITY") == ("avx2" if applies else None)


def test_kernelspec_gains_the_pinned_environment(tmp_path):
    spec = tmp_path / "kernel.json"
    spec.write_text(json.dumps({"argv": ["python"], "env": {"OMP_NUM_THREADS": "9"}}))
    subprocess.run([sys.executable, str(SCRIPT), "kernelspec", str(spec)], check=True)
    env = json.loads(spec.read_text())["env"]
    assert env["OMP_NUM_THREADS"] == "1" and numerics.MARKER in env


def test_the_installed_kernel_is_pinned():
    kernel = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not kernel.exists():
        pytest.skip("no kernel installed in this environment (make install writes it)")
    env = json.loads(kernel.read_text()).get("env", {})
    assert env.get("OMP_NUM_THREADS") == "1" and numerics.MARKER in env


def test_faiss_runs_on_its_avx2_kernels_under_the_pin_even_if_the_shell_sets_it_empty():
    pytest.importorskip("faiss")
    applies, _ = numerics.pin_support()
    if not applies:
        pytest.skip("the pin does not apply on this CPU")
    shell = {**os.environ, "FAISS_SIMD_LEVEL": "", "OPENBLAS_CORETYPE": "SkylakeX"}
    out = _run_pinned(shell, "import faiss; print(faiss.SIMDConfig.get_level_name())")
    assert out.strip() == "AVX2"


def _run_pinned(shell: dict[str, str], code: str) -> str:
    """Stdout of ``python -c code`` run through ``numerics.py exec`` from ``shell``'s environment."""
    command = [sys.executable, str(SCRIPT), "exec", "--", sys.executable, "-c", code]
    return subprocess.run(command, env=shell, capture_output=True, text=True, check=True).stdout
