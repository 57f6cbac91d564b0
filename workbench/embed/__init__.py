"""Face embeddings: dlib's metric-learned ResNet rebuilt in Keras, and its Siamese use.

Importing this package loads no model and does not import Keras; the network is built on
the first :meth:`Embedder.embed`. The fine-tuning API (:mod:`workbench.embed.finetune`:
``SiameseTrainer``, ``FineTunedEmbedder``, ...) is exported here too, imported on first use.
The dlib file parser lives in :mod:`workbench.embed.dlib_format` (used to build the weights).

Example:
    >>> from workbench.embed import default_embedder, DEFAULT_THRESHOLD
    >>> vectors = default_embedder().embed(chips)  # doctest: +SKIP
    >>> same = np.linalg.norm(vectors[0] - vectors[1]) < DEFAULT_THRESHOLD  # doctest: +SKIP
"""

from __future__ import annotations

from workbench._lazy import lazy_exports
from workbench.embed.embedder import (
    CHIP_SHAPE,
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    Embedder,
    FaceEmbedder,
    check_chips,
    default_embedder,
)
from workbench.embed.siamese import SiameseNetwork, Verification
from workbench.errors import GalleryError, InvalidArgumentError

#: Embedders by name (``--embedder``): dlib's ResNet alone, and dlib fused with
#: MobileFaceNet (:mod:`workbench.embed.fused`, the default for a new gallery).
EMBEDDERS = ("dlib", "fused")
#: The embedder a new gallery gets when none is named: the fused one, recognised through
#: the cascade (:mod:`workbench.cascade`: dlib first, MobileFaceNet only near dlib's
#: threshold and for the unknowns stored). LFW View 2 10-fold 99.50% against dlib's
#: 98.98% (McNemar p < 1e-5), the live loop's cost per face within 1.5x of dlib alone;
#: docs/benchmarks/lfw.md. :func:`default_embedder` stays dlib's network (chips in,
#: the Siamese and fine-tuning work on it).
DEFAULT_EMBEDDER = "fused"


def create_embedder(name: str = DEFAULT_EMBEDDER) -> FaceEmbedder:
    """The embedder called ``name`` (one of :data:`EMBEDDERS`); loads nothing yet.

    Raises:
        InvalidArgumentError: an unknown name, listing the valid ones.
    """
    if name == "dlib":
        return default_embedder()
    if name == "fused":
        from workbench.embed.fused import FusedEmbedder

        return FusedEmbedder()
    raise InvalidArgumentError(f"unknown embedder {name!r}; valid: {list(EMBEDDERS)}")


def embedder_for(model_id: str) -> FaceEmbedder:
    """The embedder whose vectors a gallery of ``model_id`` holds, so a gallery keeps
    being searched with the model it was made with whatever the default.

    Raises:
        GalleryError: no embedder here makes that model id (a fine-tuned model: load it
            with :func:`workbench.embed.load_finetuned`), listing the known ones.
    """
    known = {}
    for name in EMBEDDERS:
        embedder = create_embedder(name)
        if embedder.model_id == model_id:
            return embedder
        known[name] = embedder.model_id
    raise GalleryError(
        f"the gallery holds embeddings of model {model_id!r}, which no embedder here makes "
        f"(known: {known}); a fine-tuned model opens with workbench.embed.load_finetuned"
    )


#: Exported from :mod:`workbench.embed.finetune` on first use (it imports Keras).
_FINETUNE = (
    "FaceSet",
    "FineTunedEmbedder",
    "SiameseTrainer",
    "TrainingConfig",
    "TrainingResult",
    "load_face_folder",
    "load_finetuned",
    "split_by_person",
)

__all__ = [
    "CHIP_SHAPE",
    "DEFAULT_EMBEDDER",
    "DEFAULT_THRESHOLD",
    "EMBEDDERS",
    "EMBEDDING_DIM",
    "Embedder",
    "FaceEmbedder",
    "SiameseNetwork",
    "Verification",
    "check_chips",
    "create_embedder",
    "default_embedder",
    "embedder_for",
    *_FINETUNE,
]

__getattr__, __dir__ = lazy_exports(
    __name__, dict.fromkeys(_FINETUNE, "workbench.embed.finetune"), globals()
)
