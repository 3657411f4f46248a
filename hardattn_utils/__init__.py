"""hardattn_utils — the package shared by the notebooks of *Hard Attention*.

Import it as ``import hardattn_utils as ha``. Modules: ``config`` (seeds, FULL
switch), ``attention`` (soft and hard reads), ``sampling`` (Gumbel noise,
Gumbel-max, Gumbel-Softmax, straight-through), ``estimators`` (gradient
estimators), ``baselines``, ``control`` and ``entropy`` (variance reduction), ``exact`` (enumeration and
estimator statistics), ``tasks``, ``models``, ``train``, ``plotting`` and
``widgets``.
"""

from .attention import hard_attention, masked_softmax, soft_attention
from .baselines import (
    LearnedBaseline,
    MovingAverageBaseline,
    mean_baseline_reinforce,
    optimal_baseline,
    optimal_baseline_reinforce,
    score_function,
    self_critical,
)
from .claims import Claims
from .config import FULL, NUM_THREADS, device, full, scaled, set_full, set_seed
from .control import control_variate
from .entropy import entropy, entropy_bonus, entropy_gradient, with_entropy_bonus
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
from .glimpses import (
    Canvases,
    GlimpseNet,
    GlimpseTrace,
    WholeImageNet,
    cluttered_canvases,
    extract_glimpse,
    glimpse_accuracy,
    glimpse_objective,
    grid_size,
    num_parameters,
)
from .latents import (
    CategoricalVAE,
    exact_negative_elbo,
    latent_traversal,
    log_marginal_likelihood,
    negative_elbo,
    reconstruct,
    tile_images,
    vae_objective,
)
from .memory import (
    CopyBatch,
    CopyNet,
    CopyTask,
    copy_accuracy,
    copy_objective,
    read_sharpness,
    read_timing,
)
from .models import RetrievalNet
from .numerics import footer, numeric_pin
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
from .pointer import (
    Decoding,
    PointerNet,
    SortingBatch,
    SortingTask,
    pointer_accuracy,
    self_critical_objective,
    teacher_forcing_objective,
)
from .sampling import gumbel_max_sample, gumbel_noise, gumbel_softmax, one_hot, straight_through
from .schedules import ExponentialSchedule, JangSchedule, schedule_frame
from .seeds import SEEDS, SeedStack, mean_se, over_seeds, seeds, spread
from .tasks import RetrievalBatch, RetrievalTask, load_digits_tensors
from .train import estimator_objective, fit, steps_to, train_retrieval, train_retrieval_seeds
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
    "Claims",
    "SEEDS",
    "SeedStack",
    "footer",
    "full",
    "mean_se",
    "numeric_pin",
    "over_seeds",
    "seeds",
    "spread",
    "Canvases",
    "CategoricalVAE",
    "GlimpseNet",
    "GlimpseTrace",
    "WholeImageNet",
    "cluttered_canvases",
    "exact_negative_elbo",
    "extract_glimpse",
    "glimpse_accuracy",
    "glimpse_objective",
    "grid_size",
    "latent_traversal",
    "log_marginal_likelihood",
    "negative_elbo",
    "num_parameters",
    "reconstruct",
    "tile_images",
    "train_retrieval",
    "train_retrieval_seeds",
    "vae_objective",
    "CopyBatch",
    "CopyNet",
    "CopyTask",
    "Decoding",
    "PointerNet",
    "SortingBatch",
    "SortingTask",
    "copy_accuracy",
    "copy_objective",
    "pointer_accuracy",
    "read_sharpness",
    "read_timing",
    "self_critical_objective",
    "teacher_forcing_objective",
    "ESTIMATORS",
    "ESTIMATOR_COLORS",
    "FULL",
    "NUM_THREADS",
    "Estimate",
    "LearnedBaseline",
    "LossFn",
    "MovingAverageBaseline",
    "RetrievalBatch",
    "RetrievalNet",
    "RetrievalTask",
    "attention_explorer",
    "attention_panel",
    "control_variate",
    "device",
    "entropy",
    "entropy_bonus",
    "entropy_gradient",
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
    "mean_baseline_reinforce",
    "new_figure",
    "one_hot",
    "optimal_baseline",
    "optimal_baseline_reinforce",
    "plot_curves",
    "plot_gradient_stats",
    "plot_weights",
    "reinforce",
    "rloo",
    "sample_one_hot",
    "scaled",
    "score_function",
    "score_sweep_figure",
    "self_critical",
    "set_full",
    "set_seed",
    "set_theme",
    "soft_attention",
    "st_gumbel_softmax",
    "steps_to",
    "straight_through",
    "straight_through_softmax",
    "ExponentialSchedule",
    "JangSchedule",
    "schedule_frame",
    "simplex_panel",
    "simplex_samples_figure",
    "temperature_explorer",
    "with_entropy_bonus",
]
