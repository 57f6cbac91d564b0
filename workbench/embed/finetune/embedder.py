"""The fine-tuned embedder: the frozen base followed by a trained part, with its own
``model_id``; saved as ``.weights.h5`` + ``.json`` provenance (no pickle) and loaded back
without the trainer."""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np

from workbench.embed.embedder import CHIP_SHAPE, EMBEDDING_DIM, Embedder
from workbench.embed.finetune.config import TRAINABLE
from workbench.embed.finetune.models import (
    LAST_STAGE_INPUT,
    build_head,
    build_last_stage,
    forward,
    head_hidden,
    stage_inputs,
)
from workbench.errors import ModelAssetError, TrainingError
from workbench.files import atomic_path, sha256_file

#: Written in the JSON beside saved weights; bumped when the layout changes.
FORMAT = "workbench-siamese/1"


class FineTunedEmbedder:
    """The base embedder followed by a fine-tuned part; usable wherever an Embedder is.

    ``embed(chips)`` has :meth:`Embedder.embed`'s signature; :attr:`model_id` names the
    base model, the trained part and a hash of its weights, so a gallery never mixes its
    embeddings with the base model's.

    Args:
        base: the frozen :class:`Embedder`.
        tower: the trained part (:func:`build_head` or :func:`build_last_stage`).
        trainable: ``"head"`` or ``"last_stage"``.
        provenance: JSON-able facts saved beside the weights (config, data, metrics).
    """

    def __init__(self, base: Embedder, tower, *, trainable: str, provenance: dict | None = None):
        if trainable not in TRAINABLE:
            raise TrainingError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
        self.base = base
        self.tower = tower
        self.trainable = trainable
        self.provenance = dict(provenance or {})
        self._trunk = None
        self._lock = threading.RLock()

    @property
    def weights_sha256(self) -> str:
        """sha256 over the trained part's weights (shapes and float32 bytes, in order)."""
        h = hashlib.sha256()
        for w in self.tower.get_weights():
            w = np.ascontiguousarray(w, np.float32)
            h.update(str(w.shape).encode())
            h.update(w.tobytes())
        return h.hexdigest()

    @property
    def model_id(self) -> str:
        """``<base model_id>+siamese-<trainable>-<first 12 hex of the weights' sha256>``."""
        return f"{self.base.model_id}+siamese-{self.trainable}-{self.weights_sha256[:12]}"

    @property
    def model(self):
        """The whole network as one ``keras.Model`` ``(N,150,150,3) -> (N,128)``."""
        inputs = keras.Input(CHIP_SHAPE, name="chips")
        if self.trainable == "head":
            out = self.tower(self.base.model(inputs))
        else:
            out = self.tower(self._trunk_model()(inputs))
        return keras.Model(inputs, out, name=f"finetuned_{self.trainable}")

    def load(self) -> FineTunedEmbedder:
        self.base.load()
        return self

    def close(self) -> None:
        """Drop the cached trunk; the base embedder is shared and left open."""
        with self._lock:
            self._trunk = None

    def __enter__(self) -> FineTunedEmbedder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _trunk_model(self):
        """The frozen part of the ResNet up to the last stage's input (affines folded)."""
        with self._lock:
            if self._trunk is None:
                from workbench.embed.resnet import fold_affine_layers

                folded = fold_affine_layers(self.base.model)
                self._trunk = keras.Model(
                    folded.input, folded.get_layer(LAST_STAGE_INPUT).output, name="trunk"
                )
            return self._trunk

    def features(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """The trained part's input for these chips: ``(N, 128)`` base embeddings for the
        head, ``(N, 4, 4, 256)`` last-stage inputs for the last stage."""
        if self.trainable == "head":
            return self.base.embed(chips, batch_size=batch_size)
        return stage_inputs(self._trunk_model(), chips, batch_size=batch_size)

    def embed_features(self, features: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Run the trained part on :meth:`features` output: ``(N, 128)`` float32."""
        return forward(self.tower, np.asarray(features, np.float32), batch_size)

    def embed(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Embed aligned face chips, as :meth:`Embedder.embed`.

        Args:
            chips: ``(N, 150, 150, 3)`` uint8 RGB aligned chips.
            batch_size: faces per forward pass.

        Returns:
            ``(N, 128)`` float32 embeddings; compare with Euclidean distance.

        Raises:
            InvalidImageError: chips of another shape or dtype.
        """
        from workbench.embed.embedder import check_chips

        chips = check_chips(chips)
        if len(chips) == 0:
            return np.empty((0, EMBEDDING_DIM), np.float32)
        return self.embed_features(self.features(chips, batch_size=batch_size))

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``<path>.weights.h5`` and ``<path>.json`` (provenance), each atomically.

        Returns:
            The two paths written.
        """
        weights, meta = _model_paths(path)
        with atomic_path(weights, suffix=".weights.h5") as tmp:
            self.tower.save_weights(tmp)

        record = {
            "format": FORMAT,
            "model_id": self.model_id,
            "trainable": self.trainable,
            "base": {"model_id": self.base.model_id, "sha256": self.base.sha256},
            "weights": {
                "file": weights.name,
                "file_sha256": sha256_file(weights),
                "values_sha256": self.weights_sha256,
            },
            "head": {"hidden": head_hidden(self.tower)} if self.trainable == "head" else None,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            **self.provenance,
        }
        text = json.dumps(_jsonable(record), indent=2, sort_keys=False)
        with atomic_path(meta, suffix=".json") as tmp:
            tmp.write_text(text + "\n")
        return weights, meta

    def __repr__(self) -> str:
        return f"FineTunedEmbedder({self.trainable}, base={self.base.model_id})"


def load_finetuned(path: str | os.PathLike, embedder: Embedder | None = None) -> FineTunedEmbedder:
    """Load a model written by :meth:`FineTunedEmbedder.save`.

    Args:
        path: ``<path>``, ``<path>.json`` or ``<path>.weights.h5``.
        embedder: the base embedder; defaults to :func:`default_embedder`. Its weights
            must be the ones the model was trained on.

    Raises:
        ModelAssetError: a missing or damaged file, another format, or a base embedder
            with other weights than the one recorded.
    """
    from workbench.embed.embedder import default_embedder

    weights, meta = _model_paths(path)
    try:
        record = json.loads(meta.read_text())
    except OSError as exc:
        raise ModelAssetError(f"cannot read {meta}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ModelAssetError(f"{meta}: not JSON ({exc})") from None
    found = record.get("format") if isinstance(record, dict) else type(record).__name__
    if found != FORMAT:
        raise ModelAssetError(f"{meta}: expected format {FORMAT!r}, got {found!r}")
    try:
        base_sha, base_id = record["base"]["sha256"], record["base"]["model_id"]
        file_sha, values_sha = record["weights"]["file_sha256"], record["weights"]["values_sha256"]
        trainable = record["trainable"]
        hidden = int(record["head"]["hidden"]) if trainable == "head" else 0
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelAssetError(f"{meta}: incomplete record ({type(exc).__name__}: {exc})") from None
    base = embedder if embedder is not None else default_embedder()
    if base_sha != base.sha256:
        raise ModelAssetError(
            f"{meta}: trained on base weights {base_id}, but the embedder given is {base.model_id}"
        )
    if not weights.is_file():
        raise ModelAssetError(f"{weights}: the weights file is missing")
    if sha256_file(weights) != file_sha:
        raise ModelAssetError(f"{weights}: sha256 differs from the one recorded in {meta.name}")
    if trainable == "head":
        tower = build_head(hidden=hidden)
    elif trainable == "last_stage":
        tower = build_last_stage(base.model)
    else:
        raise ModelAssetError(f"{meta}: unknown trainable part {trainable!r}")
    try:
        tower.load_weights(weights)
    except Exception as exc:  # noqa: BLE001 - h5py and Keras raise many kinds
        raise ModelAssetError(f"{weights}: cannot load the weights ({exc})") from None
    keep = {
        k: v
        for k, v in record.items()
        if k not in ("format", "model_id", "trainable", "base", "weights", "head", "saved")
        and k not in ("keras", "backend")
    }
    model = FineTunedEmbedder(base, tower, trainable=trainable, provenance=keep)
    if model.weights_sha256 != values_sha:
        raise ModelAssetError(f"{weights}: the loaded values differ from those recorded")
    return model


def _model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    name = path.name
    for suffix in (".weights.h5", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return path.with_name(name + ".weights.h5"), path.with_name(name + ".json")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
