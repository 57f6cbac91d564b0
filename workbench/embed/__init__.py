"""Face embeddings: dlib's metric-learned ResNet rebuilt in Keras, and its Siamese use.

Importing this package loads no model and does not import Keras; the network is built on
the first :meth:`Embedder.embed`.

Example:
    >>> from workbench.embed import default_embedder, DEFAULT_THRESHOLD
    >>> vectors = default_embedder().embed(chips)  # doctest: +SKIP
    >>> same = np.linalg.norm(vectors[0] - vectors[1]) < DEFAULT_THRESHOLD  # doctest: +SKIP
"""

from __future__ import annotations

from workbench.embed.dlib_format import (
    DlibNetwork,
    LayerSpec,
    read_dlib_network,
    resnet_v1_architecture,
)
from workbench.embed.embedder import (
    CHIP_SHAPE,
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    Embedder,
    check_chips,
    default_embedder,
)
from workbench.embed.siamese import SiameseNetwork, Verification

__all__ = [
    "CHIP_SHAPE",
    "DEFAULT_THRESHOLD",
    "EMBEDDING_DIM",
    "DlibNetwork",
    "Embedder",
    "LayerSpec",
    "SiameseNetwork",
    "Verification",
    "check_chips",
    "default_embedder",
    "read_dlib_network",
    "resnet_v1_architecture",
]
