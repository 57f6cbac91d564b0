"""Fine-tuning the Siamese network on your own people.

The frozen embedder (:class:`workbench.embed.Embedder`, dlib's ResNet) already maps faces
so that Euclidean distance means identity. This package fine-tunes a part of it on a
labelled set of faces with a pairwise (contrastive) or triplet loss:

- ``trainable="head"`` (default): a small projection head on top of the frozen 128-D
  embedding. It starts as the identity (a linear map initialised to ``I`` plus a residual
  MLP whose output layer starts at zero), so step 0 *is* the base model. It trains on
  cached 128-D embeddings, so it runs in seconds on a CPU.
- ``trainable="last_stage"``: the network's last residual stage (dlib's ``level0``, one
  down-sampling block of 256 filters) plus the final 128-unit ``fc``. It trains on cached
  activations at the stage's input (``(4, 4, 256)`` per face), so the frozen trunk runs
  once per face, not once per step.

One module per job:

- :mod:`.data`: :class:`FaceSet` (samples + integer labels + names), :func:`split_by_person`
  (no person on both sides), :func:`verification_pairs`, :func:`load_face_folder`. No Keras.
- :mod:`.sampling`: :class:`PairGenerator` and :class:`TripletGenerator` (balanced batches,
  optionally with hard negatives mined under the current model).
- :mod:`.losses`: :func:`contrastive_loss`, :func:`triplet_loss`.
- :mod:`.models`: :func:`build_head`, :func:`build_last_stage`, :func:`twin_model`.
- :mod:`.config`: :class:`TrainingConfig`, :class:`TrainingResult`. No Keras.
- :mod:`.embedder`: :class:`FineTunedEmbedder` (the embedder's ``embed()`` signature, its
  own ``model_id``; saves to ``.weights.h5`` + ``.json`` with its provenance, no pickle)
  and :func:`load_finetuned`, which need no trainer.
- :mod:`.trainer`: :class:`SiameseTrainer` fits, stops early on a validation figure
  (verification accuracy by default) and replaces the base model (epoch 0) only with an
  epoch that beats it by twice the validation set's standard error.

Names are imported on first use, so ``import workbench.embed.finetune`` (and the
Keras-free :class:`FaceSet`) does not import Keras.

Example:
    >>> from workbench.embed.finetune import TrainingConfig  # no Keras imported yet
    >>> TrainingConfig(loss="triplet").effective_margin
    0.2
    >>> faces = load_face_folder("reference_images", detector=det)  # doctest: +SKIP
    >>> trainer = SiameseTrainer(default_embedder(), TrainingConfig(epochs=10))  # doctest: +SKIP
    >>> result = trainer.fit(faces, progress=print)  # doctest: +SKIP
    >>> result.embedder.save("models/my_people")  # doctest: +SKIP
    >>> tuned = load_finetuned("models/my_people")  # doctest: +SKIP
    >>> tuned.embed(chips).shape  # doctest: +SKIP
    (N, 128)
"""

from __future__ import annotations

from workbench._lazy import lazy_exports

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "DEFAULT_MARGINS": ".config",
    "LOSSES": ".config",
    "MONITORS": ".config",
    "TRAINABLE": ".config",
    "TrainingConfig": ".config",
    "TrainingResult": ".trainer",
    "FaceSet": ".data",
    "load_face_folder": ".data",
    "split_by_person": ".data",
    "verification_pairs": ".data",
    "FineTunedEmbedder": ".embedder",
    "load_finetuned": ".embedder",
    "contrastive_loss": ".losses",
    "triplet_loss": ".losses",
    "build_head": ".models",
    "build_last_stage": ".models",
    "twin_model": ".models",
    "PairGenerator": ".sampling",
    "TripletGenerator": ".sampling",
    "SiameseTrainer": ".trainer",
    "auc_standard_error": ".trainer",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
