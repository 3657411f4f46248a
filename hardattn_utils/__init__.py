"""hardattn_utils — the package shared by the notebooks of *Hard Attention*.

Import it as ``import hardattn_utils as ha``. Modules: ``config`` (seeds, FULL
switch), ``attention`` (soft and hard reads), ``sampling`` (Gumbel noise,
Gumbel-max, Gumbel-Softmax, straight-through), ``estimators`` (gradient
estimators), ``exact`` (enumeration and estimator statistics), ``tasks``,
``models``, ``train``, ``plotting`` and ``widgets``.
"""

from .attention import hard_attention, masked_softmax, soft_attention
from .config import FULL, NUM_THREADS, device, scaled, set_full, set_seed
from .estimators import (
    ESTIMATORS,
    Estimate,
    LossFn,
    gumbel_softmax_estimator,
    reinforce,
    rloo,
    sample_one_hot,
    st_gumbel_softmax,
    straight_through_softmax,
)
from .exact import exact_gradient, expected_loss, gradient_samples, gradient_stats
from .models import RetrievalNet
from .plotting import (
    ESTIMATOR_COLORS,
    estimator_color,
    estimator_palette,
    new_figure,
    plot_curves,
    plot_gradient_stats,
    plot_weights,
    set_theme,
)
from .sampling import gumbel_max_sample, gumbel_noise, gumbel_softmax, one_hot, straight_through
from .schedules import ExponentialSchedule, JangSchedule, schedule_frame
from .tasks import RetrievalBatch, RetrievalTask, load_digits_tensors
from .train import estimator_objective, fit
from .widgets import (
    attention_explorer,
    attention_panel,
    score_sweep_figure,
    simplex_panel,
    simplex_samples_figure,
    temperature_explorer,
)

__version__ = "0.1.0"

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_COLORS",
    "FULL",
    "NUM_THREADS",
    "Estimate",
    "LossFn",
    "RetrievalBatch",
    "RetrievalNet",
    "RetrievalTask",
    "attention_explorer",
    "attention_panel",
    "device",
    "estimator_color",
    "estimator_objective",
    "estimator_palette",
    "exact_gradient",
    "expected_loss",
    "fit",
    "gradient_samples",
    "gradient_stats",
    "gumbel_max_sample",
    "gumbel_noise",
    "gumbel_softmax",
    "gumbel_softmax_estimator",
    "hard_attention",
    "load_digits_tensors",
    "masked_softmax",
    "new_figure",
    "one_hot",
    "plot_curves",
    "plot_gradient_stats",
    "plot_weights",
    "reinforce",
    "rloo",
    "sample_one_hot",
    "scaled",
    "score_sweep_figure",
    "set_full",
    "set_seed",
    "set_theme",
    "soft_attention",
    "st_gumbel_softmax",
    "straight_through",
    "straight_through_softmax",
    "ExponentialSchedule",
    "JangSchedule",
    "schedule_frame",
    "simplex_panel",
    "simplex_samples_figure",
    "temperature_explorer",
]
