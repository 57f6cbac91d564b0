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
    "DEFAULT_THRESHOLD",
    "EMBEDDING_DIM",
    "Embedder",
    "FaceEmbedder",
    "SiameseNetwork",
    "Verification",
    "check_chips",
    "default_embedder",
    *_FINETUNE,
]

__getattr__, __dir__ = lazy_exports(
    __name__, dict.fromkeys(_FINETUNE, "workbench.embed.finetune"), globals()
)
