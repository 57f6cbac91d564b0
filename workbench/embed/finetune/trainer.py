"""The trainer: features through the frozen part once, then fit the trained part with
early stopping on held-out people, keeping the base model unless an epoch beats it
beyond the validation set's noise."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import keras
import numpy as np

from workbench.embed.embedder import Embedder
from workbench.embed.finetune.config import TrainingConfig
from workbench.embed.finetune.data import FaceSet, split_by_person, verification_pairs
from workbench.embed.finetune.embedder import FineTunedEmbedder
from workbench.embed.finetune.losses import keras_loss, np_contrastive, np_triplet_from_pairs
from workbench.embed.finetune.models import build_head, build_last_stage, twin_model
from workbench.embed.finetune.sampling import PairGenerator, TripletGenerator
from workbench.errors import TrainingError


@dataclass
class TrainingResult:
    """What :meth:`SiameseTrainer.fit` returns.

    Attributes:
        embedder: the fine-tuned model at its best epoch.
        history: one record per epoch (epoch 0 is the base model): ``epoch``, ``loss``
            (training, ``nan`` at epoch 0), ``val_loss``, ``val_accuracy``, ``val_auc``,
            ``val_threshold``, ``seconds``.
        best_epoch: the epoch kept (0 means training did not beat the base model on the
            validation people; with ``restore_best=False``, the last epoch).
        seconds: wall time of the training (feature extraction excluded).
        feature_seconds: wall time spent running the frozen part over the faces.
        last: the model at the last epoch run, when that is not the one kept (for
            comparison: what training reached before early stopping stepped in).
    """

    embedder: FineTunedEmbedder
    history: list[dict]
    best_epoch: int
    seconds: float
    feature_seconds: float = 0.0
    last: FineTunedEmbedder | None = None

    @property
    def before(self) -> dict:
        return self.history[0]

    @property
    def best(self) -> dict:
        return self.history[self.best_epoch]


class SiameseTrainer:
    """Fine-tunes the twin tower on labelled faces.

    Args:
        embedder: the frozen base :class:`Embedder` (default: :func:`default_embedder`).
        config: hyper-parameters; keyword overrides are applied on top.

    Example:
        >>> trainer = SiameseTrainer(embedder, epochs=5, loss="triplet")  # doctest: +SKIP
        >>> result = trainer.fit(faces)  # doctest: +SKIP
    """

    def __init__(
        self, embedder: Embedder | None = None, config: TrainingConfig | None = None, **overrides
    ):
        from workbench.embed.embedder import default_embedder

        config = config if config is not None else TrainingConfig()
        try:
            self.config = replace(config, **overrides) if overrides else config
        except TypeError as exc:
            raise TrainingError(f"unknown option: {exc}") from None
        self.embedder = embedder if embedder is not None else default_embedder()
        self._frozen = None

    def new_model(self) -> FineTunedEmbedder:
        """A fresh, untrained fine-tuning model (the head starts as the identity)."""
        keras.utils.set_random_seed(self.config.seed)
        if self.config.trainable == "head":
            tower = build_head(hidden=self.config.hidden)
        else:
            tower = build_last_stage(self.embedder.model)
        return FineTunedEmbedder(self.embedder, tower, trainable=self.config.trainable)

    def twin_model(self, model: FineTunedEmbedder | None = None):
        """The Siamese training model around ``model``'s tower (for ``summary()``)."""
        model = model if model is not None else self.new_model()
        return twin_model(model.tower, triplet=self.config.loss == "triplet")

    def features(self, faces: FaceSet, model: FineTunedEmbedder | None = None) -> FaceSet:
        """``faces`` with samples replaced by the trained part's input.

        Chips are run through the frozen part once; embeddings pass through for the head.

        Raises:
            TrainingError: embeddings given for ``trainable="last_stage"`` (it needs chips
                or last-stage inputs), or last-stage inputs for the head.
        """
        if not isinstance(faces, FaceSet):
            raise TrainingError(f"expected a FaceSet, got {type(faces).__name__}")
        want = "embeddings" if self.config.trainable == "head" else "stage_inputs"
        if faces.kind == want:
            return faces
        if faces.kind != "chips":
            raise TrainingError(
                f"trainable={self.config.trainable!r} trains on chips or {want}, but the "
                f"faces hold {faces.kind}"
            )
        model = model if model is not None else self._model_for_features()
        return faces.with_samples(model.features(faces.samples))

    def _model_for_features(self) -> FineTunedEmbedder:
        """A model without a trained part: runs the frozen part only (its trunk cached)."""
        if self._frozen is None:
            self._frozen = FineTunedEmbedder(self.embedder, None, trainable=self.config.trainable)
        return self._frozen

    def fit(
        self,
        faces: FaceSet,
        *,
        validation: FaceSet | None = None,
        progress: Callable[[dict], None] | None = None,
    ) -> TrainingResult:
        """Train, stopping early on the validation figure; keep the best epoch.

        Args:
            faces: labelled chips (or, for the head, embeddings; for the last stage,
                last-stage inputs). Split by person into training and validation unless
                ``validation`` is given.
            validation: held-out people; must share no name with ``faces``.
            progress: called with each epoch's record (epoch 0 is the base model): for a
                live curve.

        Returns:
            A :class:`TrainingResult`.

        Raises:
            TrainingError: too few people or photos, a person on both sides, samples of
                the wrong kind.
        """
        cfg = self.config
        if not isinstance(faces, FaceSet):
            raise TrainingError(f"expected a FaceSet, got {type(faces).__name__}")
        train, val = _split(faces, validation, cfg)
        t0 = time.perf_counter()
        train_f, val_f = self.features(train), self.features(val)
        feature_seconds = time.perf_counter() - t0

        model = self.new_model()
        triplet = cfg.loss == "triplet"
        generator_cls = TripletGenerator if triplet else PairGenerator
        generator = generator_cls(
            train_f,
            batch_size=cfg.batch_size,
            steps=cfg.steps_per_epoch,
            hard_negatives=cfg.hard_negatives,
            embed=model.embed_features,
            seed=cfg.seed,
        )
        net = twin_model(model.tower, triplet=triplet)
        net.compile(
            optimizer=keras.optimizers.Adam(cfg.effective_learning_rate),
            loss=keras_loss(cfg.loss, cfg.effective_margin),
        )
        vi, vj, vsame = verification_pairs(val_f.labels, max_pairs=cfg.val_pairs, seed=cfg.seed)
        monitor = _Monitor(model, val_f.samples, vi, vj, vsame, cfg, progress)
        start = time.perf_counter()
        monitor.record(0, float("nan"), start)
        net.fit(
            generator,
            epochs=cfg.epochs,
            verbose=0,
            callbacks=[monitor],
        )
        last_epoch = len(monitor.history) - 1
        kept, kept_weights = monitor.kept if cfg.restore_best else (last_epoch, None)
        last = None
        if kept != last_epoch:
            # Keep the last epoch's model too, to show what early stopping protected from.
            last = self.new_model()
            last.tower.set_weights(model.tower.get_weights())
            model.tower.set_weights(kept_weights)
        seconds = time.perf_counter() - start
        model.provenance = {
            "config": asdict(cfg),
            "data": {"train": train.summary(), "validation": val.summary()},
            "metrics": {
                "best_epoch": kept,
                "epochs_run": len(monitor.history) - 1,
                "before": monitor.history[0],
                "after": monitor.history[kept],
                "train_seconds": round(seconds, 2),
            },
        }
        return TrainingResult(model, monitor.history, kept, seconds, feature_seconds, last)


def _split(
    faces: FaceSet, validation: FaceSet | None, cfg: TrainingConfig
) -> tuple[FaceSet, FaceSet]:
    """Training and validation sets: split by person, or the given ones checked to share
    no person."""
    if validation is None:
        return split_by_person(faces, val_fraction=cfg.val_fraction, seed=cfg.seed)
    both = set(np.asarray(faces.names)[np.unique(faces.labels)]) & set(
        np.asarray(validation.names)[np.unique(validation.labels)]
    )
    if both:
        raise TrainingError(
            f"{len(both)} people are in both training and validation, e.g. {sorted(both)[0]!r}"
        )
    return faces, validation


class _Monitor(keras.callbacks.Callback):
    """Validation, early stopping with the best weights kept, and progress reports."""

    def __init__(self, model, val_samples, vi, vj, vsame, cfg, progress):
        super().__init__()
        self.ft = model
        self.val = val_samples
        self.vi, self.vj, self.vsame = vi, vj, vsame
        self.cfg = cfg
        self.progress = progress
        self.history: list[dict] = []
        self.best_score = -float("inf")  # the best epoch so far, by the raw figure
        self.best_epoch = 0
        self.best_weights = None
        self.base_score = 0.0
        self.base_weights = None
        self.min_delta = 0.0
        self.wait = 0
        self.start = 0.0

    def record(self, epoch: int, loss: float, start: float | None = None) -> None:
        from workbench.evaluate import best_threshold, roc_curve

        if start is not None:
            self.start = start
        emb = self.ft.embed_features(self.val)
        d = np.linalg.norm(emb[self.vi] - emb[self.vj], axis=1)
        if self.cfg.loss == "contrastive":
            val_loss = np_contrastive(self.vsame, d, self.cfg.effective_margin)
        else:
            val_loss = np_triplet_from_pairs(d, self.vsame, self.cfg.effective_margin)
        threshold, acc = best_threshold(d, self.vsame)
        rec = {
            "epoch": epoch,
            "loss": loss,
            "val_loss": float(val_loss),
            "val_accuracy": acc,
            "val_auc": roc_curve(d, self.vsame).auc,
            "val_threshold": threshold,
            "seconds": round(time.perf_counter() - self.start, 3),
        }
        self.history.append(rec)
        score = -rec["val_loss"] if self.cfg.monitor == "val_loss" else rec[self.cfg.monitor]
        if epoch == 0:
            self.base_score = score
            self.base_weights = [w.copy() for w in self.ft.tower.get_weights()]
            self.min_delta = self._min_delta(rec, d)
        # Patience counts epochs without any gain; ties keep the earlier model.
        if score > self.best_score:
            self.best_score = score
            self.best_epoch = epoch
            self.best_weights = [w.copy() for w in self.ft.tower.get_weights()]
            self.wait = 0
        else:
            self.wait += 1
        if self.progress is not None:
            self.progress(dict(rec))

    @property
    def kept(self) -> tuple[int, list]:
        """The epoch to keep and its weights: the best epoch if it beats the base model
        (epoch 0) by more than ``min_delta``, else the base model."""
        if self.best_epoch and self.best_score > self.base_score + self.min_delta:
            return self.best_epoch, self.best_weights
        return 0, self.base_weights

    def _min_delta(self, rec: dict, d: np.ndarray) -> float:
        """The configured ``min_delta``, or twice the standard error of the base model's
        validation figure: Hanley and McNeil's for the AUC, the binomial one for the
        accuracy, 0 for the loss."""
        if self.cfg.min_delta is not None:
            return float(self.cfg.min_delta)
        n_pos, n_neg = int(self.vsame.sum()), int((~self.vsame).sum())
        if self.cfg.monitor == "val_auc":
            return 2 * auc_standard_error(rec["val_auc"], n_pos, n_neg)
        if self.cfg.monitor == "val_accuracy":
            p = rec["val_accuracy"]
            return 2 * math.sqrt(max(p * (1 - p), 1e-12) / len(d))
        return 0.0

    def on_epoch_end(self, epoch, logs=None):
        self.record(epoch + 1, float((logs or {}).get("loss", float("nan"))))
        if self.wait >= self.cfg.patience:
            self.model.stop_training = True


def auc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Standard error of an ROC AUC estimate (Hanley and McNeil, 1982).

    Args:
        auc: the estimated area.
        n_positive: genuine pairs.
        n_negative: impostor pairs.
    """
    a = min(max(float(auc), 1e-9), 1 - 1e-9)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_positive - 1) * (q1 - a * a) + (n_negative - 1) * (q2 - a * a)) / (
        n_positive * n_negative
    )
    return math.sqrt(max(var, 0.0))
