"""hardattn_utils — the package shared by the notebooks of *Hard Attention*.

Import it as ``import hardattn_utils as ha``; every public name is ``ha.<name>``.
Dependencies flow downward through three layers:

Core
    ``config`` (seeds, the FULL switch, run sizes), ``_checks`` (argument checks,
    run once at the public entry points), ``sampling`` (Gumbel noise, Gumbel-max,
    Gumbel-Softmax, straight-through), ``attention`` (soft and hard reads),
    ``categorical`` (one-hots, samples, log-probabilities, score, entropy),
    ``estimators`` (``Estimate``, REINFORCE with any baseline, relaxed and
    straight-through estimators), ``baselines`` (leave-one-out, batch mean, moving
    average, self-critical, learned), ``control`` (optimal per-coordinate baseline,
    the MuProp control variate), ``registry`` (``ESTIMATORS``, ``resolve``),
    ``exact`` (enumeration, estimator statistics), ``schedules``, ``train``
    (``fit``), ``claims``, ``seeds``, ``numerics`` (the pinned numeric environment).
Applications
    ``tasks``, ``models`` and ``retrieval`` (the retrieval task of chapters 3–6),
    ``pointer``, ``memory``, ``latents``, ``glimpses``.
Presentation (imported on first use)
    ``plotting`` (theme, fixed colour per estimator, plots), ``widgets`` (explorers).

``ha.FULL`` is always the current value of :func:`full`.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

# --- core --------------------------------------------------------------------
# --- applications (each moves to apps/<name>.py: change its name in this line) --
from . import (
    attention,
    baselines,
    categorical,
    claims,
    config,
    control,
    estimators,
    exact,
    glimpses,
    latents,
    memory,
    models,
    numerics,
    pointer,
    registry,
    retrieval,
    sampling,
    schedules,
    seeds,
    tasks,
    train,
)

CORE: tuple[ModuleType, ...] = (
    config,
    sampling,
    attention,
    categorical,
    estimators,
    baselines,
    control,
    registry,
    exact,
    schedules,
    train,
    claims,
    seeds,
    numerics,
)
APPLICATIONS: tuple[ModuleType, ...] = (tasks, models, retrieval, pointer, memory, latents, glimpses)


# --- presentation: imported on first use (matplotlib, seaborn, ipywidgets) ----
def _public_names(module: str) -> tuple[str, ...]:
    """A submodule's ``__all__``, read from its source without importing it."""
    tree = ast.parse((Path(__file__).with_name(f"{module}.py")).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise ImportError(f"hardattn_utils.{module} defines no __all__")


#: module -> its public names, which ``ha.<name>`` imports on first use
PRESENTATION: dict[str, tuple[str, ...]] = {
    module: _public_names(module) for module in ("plotting", "widgets")
}
_LAZY = {name: module for module, names in PRESENTATION.items() for name in names}

# ha.<name> for every name in a core or application module's __all__ (no star imports)
globals().update({name: getattr(m, name) for m in (*CORE, *APPLICATIONS) for name in m.__all__})

__version__ = "0.2.0"

__all__ = sorted(
    {name for module in (*CORE, *APPLICATIONS) for name in module.__all__} | set(_LAZY) | {"FULL"}
)


def __getattr__(name: str) -> object:
    """``ha.FULL`` (always current) and the presentation layer, imported on first use."""
    if name == "FULL":
        return config.full()
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in PRESENTATION:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
