"""hardattn_utils — the package shared by the notebooks of *Hard Attention*.

Import it as ``import hardattn_utils as ha``; every public name is ``ha.<name>``.
Dependencies flow downward through three layers:

Core
    ``config`` (seeds, the FULL switch, run sizes), ``_checks`` (argument checks,
    run once at the public entry points), ``sampling`` (Gumbel noise, Gumbel-max,
    Gumbel-Softmax, straight-through), ``attention`` (soft and hard reads),
    ``categorical`` (one-hots, samples, log-probabilities, score, entropy),
    ``estimators`` (``Estimate``, REINFORCE with any baseline, relaxed and
    straight-through estimators), ``sparse`` (sparsemax, α-entmax, top-k softmax and
    their readers; chapter 12), ``baselines`` (leave-one-out, batch mean, moving
    average, self-critical, learned), ``control`` (optimal per-coordinate baseline,
    the MuProp control variate), ``advanced`` (REBAR, RELAX, Gumbel-Rao, ReinMax;
    chapter 7), ``registry`` (``ESTIMATORS``, ``resolve``),
    ``exact`` (enumeration, estimator statistics), ``leaderboard`` and
    ``training_boards`` (every estimator at equal loss evaluations, chapter 14), ``schedules``, ``train``
    (``fit``), ``claims``, ``seeds``, ``numerics`` (the pinned numeric environment).
Applications (``hardattn_utils/apps/``, also reachable as ``ha.pointer`` etc.)
    ``retrieval`` (the retrieval task of chapters 3–6), ``pointer`` and ``pointer_train``
    (chapter 8), ``memory``, ``copying`` and ``keyed_copy`` (chapter 9), ``latents`` and
    ``latents_eval`` (chapter 10), ``canvases``, ``glimpses`` and ``glimpse_training``
    (chapter 11), ``routing`` and ``routing_train`` (expert routing, chapter 13),
    ``knn_memory``, ``knn_bench`` and ``knn_model`` (chapter 13: reads over a large
    memory, their timing, the kNN-augmented model), ``digits`` (the digits data set).
Presentation (imported on first use)
    ``plotting`` (theme, fixed colour per estimator, plots), ``widgets`` (ipywidgets
    explorers), ``charts`` (their kernel-free twins for the static site).

Every module is imported on first use of one of its names (PEP 562), so
``import hardattn_utils`` costs almost nothing beyond Python itself, and
``ha.gradient_stats`` pays for pandas only when a chapter calls it. ``ha.FULL`` is
always the current value of :func:`full`.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from types import ModuleType

#: layer -> its modules, in dependency order.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": (
        "config",
        "sampling",
        "attention",
        "categorical",
        "estimators",
        "sparse",
        "baselines",
        "control",
        "advanced",
        "registry",
        "exact",
        "comparisons",
        "leaderboard",
        "training_boards",
        "schedules",
        "train",
        "claims",
        "seeds",
        "numerics",
    ),
    "applications": (
        "apps.retrieval",
        "apps.pointer",
        "apps.pointer_train",
        "apps.memory",
        "apps.copying",
        "apps.keyed_copy",
        "apps.latents",
        "apps.latents_eval",
        "apps.canvases",
        "apps.glimpses",
        "apps.glimpse_training",
        "apps.digits",
        "apps.routing",
        "apps.routing_train",
        "apps.knn_memory",
        "apps.knn_bench",
        "apps.knn_model",
    ),
    "presentation": ("plotting", "widgets", "charts"),
}


def _public_names(module: str) -> tuple[str, ...]:
    """A submodule's ``__all__``, read from its source without importing it."""
    path = Path(__file__).parent.joinpath(*module.split(".")).with_suffix(".py")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise ImportError(f"hardattn_utils.{module} defines no __all__")


#: public name -> the module that defines it
_HOME: dict[str, str] = {
    name: module for modules in LAYERS.values() for module in modules for name in _public_names(module)
}

#: short module name -> its path (``"pointer"`` -> ``"apps.pointer"``), for ``ha.pointer``
_MODULES: dict[str, str] = {
    module.rsplit(".", 1)[-1]: module for modules in LAYERS.values() for module in modules
}

#: public names that are also module names (``seeds.seeds``): the function wins
_CLASHES = {name for name in _HOME if name in _MODULES}

__version__ = "0.2.0"

__all__ = sorted({*_HOME, "FULL"})


def __getattr__(name: str) -> object:
    """``ha.FULL`` (always current), then any public name, importing its module on first use."""
    if name == "FULL":
        return importlib.import_module(".config", __name__).full()
    if name in _HOME:
        value = getattr(_load(_HOME[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _MODULES:
        return _load(_MODULES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load(module: str) -> ModuleType:
    """Import a submodule; importing sets ``ha.<module>``, so rebind clashing public names."""
    loaded = importlib.import_module(f".{module}", __name__)
    for name in _CLASHES:
        home = sys.modules.get(f"{__name__}.{_HOME[name]}")
        if home is not None:
            globals()[name] = getattr(home, name)
    return loaded


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
