"""The trainer's hyper-parameters and the names they choose from (no Keras)."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import TrainingError

#: Parts of the network that can be fine-tuned.
TRAINABLE = ("head", "last_stage")
#: Losses the trainer knows.
LOSSES = ("contrastive", "triplet")
#: Default margins: contrastive pushes impostor pairs beyond 0.8 (through our detector and
#: aligner, the base model's LFW impostor distances average about 0.7, genuine ones about
#: 0.45); triplet asks the negative to be 0.2 further than the positive.
DEFAULT_MARGINS = {"contrastive": 0.8, "triplet": 0.2}
#: Validation figures early stopping can watch.
MONITORS = ("val_auc", "val_accuracy", "val_loss")


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of :class:`SiameseTrainer` (all saved with the model).

    Attributes:
        trainable: ``"head"`` (a projection head on the frozen embedding) or
            ``"last_stage"`` (the ResNet's last residual stage and ``fc``).
        loss: ``"contrastive"`` (pairs) or ``"triplet"``.
        margin: the loss's margin; ``None`` takes :data:`DEFAULT_MARGINS`.
        hidden: the head's hidden width (``trainable="head"``); 0 makes it linear.
        learning_rate: Adam's step size; ``None`` takes 1e-4 for the head, 1e-5 for the
            last stage (larger steps overfit the few people a user has within an epoch).
        batch_size: pairs or triplets per step.
        steps_per_epoch: steps between validations.
        epochs: at most this many epochs.
        patience: stop after this many epochs without a better ``monitor``.
        val_fraction: share of people held out for validation (when no validation set is
            given).
        val_pairs: validation pairs (half genuine).
        hard_negatives: mine impostors under the current model each epoch.
        monitor: what early stopping and ``restore_best`` watch on the validation pairs:
            ``"val_accuracy"`` (at the best threshold; the default, as verification is
            judged by accuracy), ``"val_auc"`` (area under the ROC: smoother, but on LFW
            it rose while accuracy on held-out people fell) or ``"val_loss"``.
        min_delta: how much the best epoch must beat the base model (epoch 0) on
            ``monitor`` to replace it. ``None``: twice the standard error of the base
            model's validation figure (binomial for the accuracy, Hanley and McNeil's for
            the AUC; 0 for the loss), so the base model is only replaced by one that is
            better beyond the noise of the validation set (on LFW, one standard error
            still let through an epoch that was worse on held-out people).
        restore_best: keep the best epoch by ``monitor`` if it beats the base model by
            ``min_delta``, else the base model; ``False`` keeps the last epoch run.
        seed: seeds the split, the batches and the initial weights.

    Raises:
        TrainingError: a value outside its range or an unknown name.
    """

    trainable: str = "head"
    loss: str = "contrastive"
    margin: float | None = None
    hidden: int = 256
    learning_rate: float | None = None
    batch_size: int = 64
    steps_per_epoch: int = 20
    epochs: int = 30
    patience: int = 6
    val_fraction: float = 0.2
    val_pairs: int = 10000
    hard_negatives: bool = True
    monitor: str = "val_accuracy"
    min_delta: float | None = None
    restore_best: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise TrainingError(f"trainable must be one of {TRAINABLE}, got {self.trainable!r}")
        if self.loss not in LOSSES:
            raise TrainingError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.monitor not in MONITORS:
            raise TrainingError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        checks = {
            "hidden": (self.hidden, 0),
            "batch_size": (self.batch_size, 2),
            "steps_per_epoch": (self.steps_per_epoch, 1),
            "epochs": (self.epochs, 1),
            "patience": (self.patience, 1),
            "val_pairs": (self.val_pairs, 2),
        }
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TrainingError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.min_delta is not None and (
            isinstance(self.min_delta, bool)
            or not isinstance(self.min_delta, int | float)
            or self.min_delta < 0
        ):
            raise TrainingError(f"min_delta must be >= 0 or None, got {self.min_delta!r}")
        for name in ("margin", "learning_rate"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
            ):
                raise TrainingError(f"{name} must be a positive number or None, got {value!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise TrainingError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")

    @property
    def effective_margin(self) -> float:
        return float(self.margin if self.margin is not None else DEFAULT_MARGINS[self.loss])

    @property
    def effective_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 1e-4 if self.trainable == "head" else 1e-5
