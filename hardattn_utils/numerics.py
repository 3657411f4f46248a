"""The book's one pinned numeric environment, defined here and nowhere else.

Training results depend on the CPU's vector path, not only on seeds: torch picks
AVX-512 kernels where the CPU has them, Intel's MKL picks its own branch per CPU,
and oneDNN (convolutions) another. Each changes the order of floating-point
operations and so the last bits, which training then amplifies. The pin makes
every x86-64 machine with AVX2, Intel or AMD, with or without AVX-512, take the
same numeric path, so the notebooks' committed outputs reproduce digit for digit.

This file uses only the standard library, so it runs before torch is imported
(the variables must be set before torch, MKL and oneDNN initialise)::

    python hardattn_utils/numerics.py exec -- CMD ARGS...   # run CMD pinned
    python hardattn_utils/numerics.py kernelspec KERNEL.JSON  # pin a Jupyter kernel
    python hardattn_utils/numerics.py nbval-args              # strict nbval, or lax
    python hardattn_utils/numerics.py describe                # one line

The pinned values replace whatever the user's shell exports. On a machine where
the pin cannot apply (arm64, or an x86-64 CPU without AVX2), the threads are still
pinned, the marker says why, and ``make test`` runs nbval in its lax mode: every
cell executes and every claim is checked, but stored numbers are not compared.
The README ("The same numbers on every machine") records the measurements that
chose these values. Chapter 1 (reproducibility footer) shows them to the reader.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["MARKER", "PIN", "THREADS", "footer", "numeric_pin", "pin_support", "pinned_environ"]

#: The numeric path: torch's ATen kernels, MKL's conditional-numerical-
#: reproducibility branch (STRICT: bitwise even for unaligned data), oneDNN's ISA,
#: faiss's SIMD level and OpenBLAS's kernel family (chapter 13's memory search).
PIN: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2,STRICT",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "FAISS_SIMD_LEVEL": "AVX2",  # faiss-cpu dispatches AVX-512 kernels where it can
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS (faiss, NumPy): its AVX2 kernels
}
#: Thread counts: one everywhere (results depend on the number of threads, and the
#: book's small models run fastest on one). Applied on every platform.
THREADS: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_DYNAMIC": "FALSE",
}
#: Set in the pinned environment: ``avx2`` when the pin applies, else ``none: why``.
MARKER = "HARDATTN_NUMERIC_PIN"
_X86_64 = {"x86_64", "amd64", "x64"}


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags, lower case, or None where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].lower().split())
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.leaf7_features", "machdep.cpu.features"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        return set(out.lower().split())
    return None


def pin_support(machine: str | None = None, flags: set[str] | None = None) -> tuple[bool, str]:
    """Whether the pin applies on this machine, and why not if it does not.

    Args:
        machine: ``platform.machine()`` (a parameter so tests can fake one).
        flags: the CPU's feature flags; ``None`` reads them from the system, and
            an x86-64 machine whose flags cannot be read is assumed to have AVX2.

    Returns:
        ``(True, "avx2")`` or ``(False, reason)``.
    """
    machine = (platform.machine() if machine is None else machine).lower()
    if machine not in _X86_64:
        return False, f"{machine or 'unknown'} CPU (the pin is for x86-64)"
    flags = _cpu_flags() if flags is None else flags
    if flags is not None and "avx2" not in flags:
        return False, "x86-64 CPU without AVX2"
    return True, "avx2"


def pinned_environ(
    base: Mapping[str, str] | None = None,
    *,
    machine: str | None = None,
    flags: set[str] | None = None,
) -> dict[str, str]:
    """``base`` (default ``os.environ``) with the pin applied over it.

    Values of ``base`` for the pinned names are replaced, never kept: a user's
    ``ATEN_CPU_CAPABILITY=default`` or ``OMP_NUM_THREADS=4`` does not leak in.
    """
    env = dict(os.environ if base is None else base)
    ok, why = pin_support(machine, flags)
    for name in PIN:
        env.pop(name, None)
    if ok:
        env.update(PIN)
    env.update(THREADS)
    env[MARKER] = "avx2" if ok else f"none: {why}"
    return env


def numeric_pin(environ: Mapping[str, str] | None = None) -> str:
    """One line that says which numeric path this process runs on.

    Reads the marker and the variables themselves, so it tells the truth even in
    a process started without the pin.
    """
    env = os.environ if environ is None else environ
    marker = env.get(MARKER)
    applied = all(env.get(k) == v for k, v in PIN.items())
    threads = env.get("OMP_NUM_THREADS", "unset")
    if marker == "avx2" and applied:
        return f"pinned: ATen, MKL, oneDNN, faiss and OpenBLAS on AVX2, {threads} thread(s)"
    if marker:
        return f"not pinned ({marker.removeprefix('none: ')}), {threads} thread(s)"
    return "not pinned (started outside `make`), numbers may differ in the last digits"


def footer(seeds: Sequence[int] | str, started: float | None = None) -> None:
    """The reproducibility footer every chapter ends with, as one printed block.

    Args:
        seeds: the seeds the chapter's claims rest on (or a description of them).
        started: ``time.perf_counter()`` at the chapter's start
            (``claims.started``); gives the wall time.

    Prints the torch version, the numeric path, the thread count, the
    seeds and the wall time. Chapter 1 explains each line.
    """
    import time

    import torch  # imported here: the rest of this file runs before torch may load

    if not isinstance(seeds, str):
        seeds = list(seeds)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise TypeError("seeds must be a non-empty sequence of ints or a str")
        seeds = _seed_text(seeds)
    lines = [
        f"torch {torch.__version__}",
        f"numeric path: {numeric_pin()}",
        f"torch threads: {torch.get_num_threads()}",
        f"seeds: {seeds}",
    ]
    if started is not None:
        lines.append(f"chapter wall time: {time.perf_counter() - started:.0f} s")
    print("\n".join(lines))


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]} ({len(seeds)} seeds)"
    return ", ".join(map(str, seeds))


def _nbval_args(ok: bool) -> list[str]:
    if ok:
        return ["--nbval", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg"]
    return ["--nbval-lax"]


def _write_kernelspec(path: Path) -> None:
    spec = json.loads(path.read_text())
    spec["env"] = {k: v for k, v in pinned_environ({}).items()}
    path.write_text(json.dumps(spec, indent=1) + "\n")


def main(argv: Sequence[str]) -> int:
    """Command-line entry point; see the module docstring."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], list(argv[1:])
    ok, why = pin_support()
    if command == "exec":
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            print("exec needs a command after --", file=sys.stderr)
            return 2
        env = pinned_environ()
        jupyter = str(Path(sys.prefix) / "share" / "jupyter")  # this venv's pinned kernel first
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (jupyter, env.get("JUPYTER_PATH")) if p)
        os.execvpe(rest[0], rest, env)
    if command == "kernelspec" and len(rest) == 1:
        _write_kernelspec(Path(rest[0]))
        return 0
    if command == "nbval-args":
        if not ok:
            print(
                f"numeric pin unavailable ({why}): nbval runs lax, executing every cell "
                "and checking every claim without comparing stored numbers",
                file=sys.stderr,
            )
        print(" ".join(_nbval_args(ok)))
        return 0
    if command == "describe":
        print(numeric_pin(pinned_environ()))
        return 0
    print(f"unknown command {command!r}; see the module docstring", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
