"""Siamese training: losses against numpy, data splits and generators, a short real run,
save/load round trips, and the errors bad input gets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.embed.finetune import (
    FaceSet,
    FineTunedEmbedder,
    PairGenerator,
    SiameseTrainer,
    TrainingConfig,
    TripletGenerator,
    auc_standard_error,
    build_head,
    contrastive_loss,
    load_face_folder,
    load_finetuned,
    split_by_person,
    triplet_loss,
    verification_pairs,
)
from workbench.errors import ModelAssetError, TrainingError

#: Real LFW people for the short run: the first people (name order) with 4+ photos.
N_PEOPLE = 12
PHOTOS = 4


def synthetic(people: int = 10, per: int = 4, seed: int = 0) -> FaceSet:
    """Clustered 128-D vectors: one centre per person plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 128)) * 0.1
    samples = np.repeat(centres, per, axis=0) + rng.normal(size=(people * per, 128)) * 0.03
    labels = np.repeat(np.arange(people), per)
    return FaceSet(samples.astype(np.float32), labels, tuple(f"p{i:02d}" for i in range(people)))


# -- losses against numpy -----------------------------------------------------------------


def np_contrastive(same, d, margin):
    return np.mean(same * d**2 + (1 - same) * np.maximum(margin - d, 0) ** 2)


def np_triplet(dp, dn, margin):
    return np.mean(np.maximum(dp - dn + margin, 0))


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_contrastive_loss_matches_numpy(margin):
    from keras import ops

    rng = np.random.default_rng(1)
    same = rng.integers(0, 2, size=17).astype(np.float32)
    d = rng.uniform(0, 2, size=17).astype(np.float32)
    got = float(ops.convert_to_numpy(contrastive_loss(same, d, margin=margin)))
    assert got == pytest.approx(np_contrastive(same, d, margin), rel=1e-5)


def test_contrastive_loss_cases():
    from keras import ops

    def loss(s, d):
        return float(ops.convert_to_numpy(contrastive_loss(np.array(s), np.array(d), margin=1.0)))

    assert loss([1.0], [0.0]) == 0.0  # genuine at distance 0
    assert loss([0.0], [1.5]) == 0.0  # impostor beyond the margin
    assert loss([1.0], [0.5]) == pytest.approx(0.25)
    assert loss([0.0], [0.25]) == pytest.approx(0.5625)


@pytest.mark.parametrize("margin", [0.1, 0.2, 1.0])
def test_triplet_loss_matches_numpy(margin):
    from keras import ops

    rng = np.random.default_rng(2)
    dp = rng.uniform(0, 1.5, size=23).astype(np.float32)
    dn = rng.uniform(0, 1.5, size=23).astype(np.float32)
    got = float(ops.convert_to_numpy(triplet_loss(dp, dn, margin=margin)))
    assert got == pytest.approx(np_triplet(dp, dn, margin), rel=1e-5)


# -- data -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fraction", "seed"), [(0.2, 0), (0.3, 1), (0.5, 2), (0.9, 3)])
def test_split_by_person_has_no_overlap(fraction, seed):
    faces = synthetic(people=15)
    train, val = split_by_person(faces, val_fraction=fraction, seed=seed)
    train_names = {train.names[i] for i in np.unique(train.labels)}
    val_names = {val.names[i] for i in np.unique(val.labels)}
    assert not train_names & val_names
    assert train_names | val_names == set(faces.names)
    assert len(train) + len(val) == len(faces)
    assert len(val_names) >= 2 and len(train_names) >= 2


def test_split_keeps_samples_with_their_person():
    faces = synthetic(people=8)
    train, val = split_by_person(faces, seed=4)
    for part in (train, val):
        for k, name in enumerate(part.names):
            original = faces.samples[faces.labels == faces.names.index(name)]
            np.testing.assert_array_equal(part.samples[part.labels == k], original)


def test_pair_generator_is_balanced():
    faces = synthetic(people=6, per=3)
    gen = PairGenerator(faces, batch_size=32, steps=3)
    assert len(gen) == 3
    (a, b), same = gen[0]
    assert a.shape == b.shape == (32, 128) and same.shape == (32,)
    assert same.sum() == 16
    ia, ib, s = gen.indices(1)
    labels = faces.labels
    assert np.array_equal(labels[ia] == labels[ib], s.astype(bool))
    assert np.all(ia[s == 1] != ib[s == 1])  # genuine pairs are two different photos


def test_generators_are_reproducible_per_epoch():
    faces = synthetic()
    gen = PairGenerator(faces, batch_size=8, steps=2, seed=5)
    first = gen.indices(0)
    assert all(np.array_equal(x, y) for x, y in zip(first, gen.indices(0), strict=True))
    gen.on_epoch_end()
    assert not all(np.array_equal(x, y) for x, y in zip(first, gen.indices(0), strict=True))


def test_triplet_generator_and_hard_negatives():
    faces = synthetic(people=10, per=4)
    vectors = faces.samples

    def embed(x):
        return x

    hard = TripletGenerator(faces, batch_size=64, steps=1, hard_negatives=True, embed=embed)
    easy = TripletGenerator(faces, batch_size=64, steps=1)
    for gen in (hard, easy):
        a, p, n = gen.indices(0)
        assert np.all(faces.labels[a] == faces.labels[p]) and np.all(a != p)
        assert np.all(faces.labels[a] != faces.labels[n])
    (x, _, _), y = hard[0]
    assert x.shape == (64, 128) and y.shape == (64,)

    def mean_negative_distance(gen):
        a, _, n = gen.indices(0)
        return np.linalg.norm(vectors[a] - vectors[n], axis=1).mean()

    assert mean_negative_distance(hard) < mean_negative_distance(easy)


def test_verification_pairs_are_balanced():
    labels = np.repeat(np.arange(5), 3)
    i, j, same = verification_pairs(labels, max_pairs=None)
    assert same.sum() == 5 * 3  # every genuine pair: 5 people x C(3, 2)
    assert (~same).sum() == same.sum()
    assert np.array_equal(labels[i] == labels[j], same)


def test_faceset_save_load(tmp_path):
    faces = synthetic(people=3, per=2)
    faces.save(tmp_path / "faces.npz")
    back = FaceSet.load(tmp_path / "faces.npz")
    np.testing.assert_array_equal(back.samples, faces.samples)
    np.testing.assert_array_equal(back.labels, faces.labels)
    assert back.names == faces.names and back.kind == "embeddings"


def test_auc_standard_error():
    # Hanley and McNeil at AUC 0.5 with n = 100 of each: (0.25 + 99 / 6) / 100**2.
    assert auc_standard_error(0.5, 100, 100) == pytest.approx(np.sqrt(0.001675), rel=1e-6)
    assert auc_standard_error(0.99, 1000, 1000) < auc_standard_error(0.99, 100, 100)
    assert auc_standard_error(0.999, 500, 500) < auc_standard_error(0.9, 500, 500)


def test_base_model_is_kept_unless_beaten_beyond_min_delta():
    # The head trains on embeddings, so no real embedder is needed for this.
    faces = synthetic(people=12)
    result = SiameseTrainer(object(), epochs=3, steps_per_epoch=3, min_delta=1.0).fit(faces)
    assert result.best_epoch == 0 and result.last is not None
    np.testing.assert_allclose(
        result.embedder.embed_features(faces.samples), faces.samples, rtol=0, atol=1e-6
    )
    assert result.embedder.provenance["metrics"]["best_epoch"] == 0


def test_triplet_training_runs_on_embeddings():
    faces = synthetic(people=12)
    trainer = SiameseTrainer(
        object(), loss="triplet", epochs=2, steps_per_epoch=3, batch_size=16, restore_best=False
    )
    result = trainer.fit(faces)
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
    assert all(np.isfinite(r["loss"]) for r in result.history[1:])
    assert trainer.twin_model().output.shape == (None, 2)  # d(a, p), d(a, n)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: FaceSet(np.zeros((4, 64), np.float32), np.zeros(4, int), ("a",)),
        lambda: FaceSet(np.zeros((4, 128), np.float32), np.zeros(3, int), ("a",)),
        lambda: FaceSet(np.zeros((2, 128), np.float32), np.array([0, 1]), ("a",)),
        lambda: FaceSet(np.zeros((2, 150, 150, 3), np.float32), np.array([0, 0]), ("a",)),
        lambda: TrainingConfig(trainable="everything"),
        lambda: TrainingConfig(loss="arcface"),
        lambda: TrainingConfig(epochs=0),
        lambda: TrainingConfig(margin=-1.0),
        lambda: TrainingConfig(val_fraction=1.0),
        lambda: TrainingConfig(monitor="loss"),
        lambda: TrainingConfig(min_delta=-0.1),
        lambda: split_by_person(synthetic(people=3)),
        lambda: split_by_person(synthetic(), val_fraction=0.0),
        lambda: PairGenerator(synthetic(), hard_negatives=True),
        lambda: PairGenerator(synthetic(people=1, per=5)),
        lambda: PairGenerator(np.zeros((4, 128))),
        lambda: verification_pairs(np.arange(4)),
    ],
)
def test_bad_input_raises_training_error(make):
    with pytest.raises(TrainingError):
        make()


def test_trainer_rejects_bad_data(tmp_path):
    # SiameseTrainer only touches the embedder when features are needed.
    trainer = SiameseTrainer(embedder=object(), trainable="last_stage")
    with pytest.raises(TrainingError, match="chips or stage_inputs"):
        trainer.features(synthetic())
    with pytest.raises(TrainingError, match="unknown option"):
        SiameseTrainer(embedder=object(), learning_rat=1.0)
    faces = synthetic()
    train, _ = split_by_person(faces)
    with pytest.raises(TrainingError, match="both training and validation"):
        SiameseTrainer(embedder=object()).fit(train, validation=train)
    with pytest.raises(TrainingError):
        load_face_folder(tmp_path / "missing", detector=None)
    (tmp_path / "empty" / "someone").mkdir(parents=True)
    with pytest.raises(TrainingError, match="no person"):
        load_face_folder(tmp_path / "empty", detector=None)


# -- a short real run -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lfw_faces(lfw_dir, mediapipe_detector, tmp_path_factory) -> FaceSet:
    """``PHOTOS`` aligned chips each of the first ``N_PEOPLE`` LFW people with that many."""
    people = []
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        if len(list(person.glob("*.jpg"))) >= PHOTOS:
            people.append(person.name)
        if len(people) == N_PEOPLE:
            break
    cache = tmp_path_factory.mktemp("faces") / "chips.npz"
    faces = load_face_folder(
        lfw_dir, detector=mediapipe_detector, people=people, max_photos=PHOTOS, cache=cache
    )
    assert faces.kind == "chips" and faces.people == N_PEOPLE
    again = load_face_folder(
        lfw_dir, detector=mediapipe_detector, people=people, max_photos=PHOTOS, cache=cache
    )
    np.testing.assert_array_equal(again.samples, faces.samples)  # read back from the cache
    return faces


@pytest.fixture(scope="module")
def lfw_embedded(embedder, lfw_faces) -> FaceSet:
    """The same faces as base embeddings, computed once (batches of 32 and 16, so the
    embedder compiles for two batch sizes only)."""
    return lfw_faces.with_samples(embedder.embed(lfw_faces.samples))


def training_loss(model: FineTunedEmbedder, features: FaceSet, margin: float) -> float:
    i, j, same = verification_pairs(features.labels, max_pairs=None, seed=0)
    emb = model.embed_features(features.samples)
    return float(np_contrastive(same, np.linalg.norm(emb[i] - emb[j], axis=1), margin))


def test_short_run_reduces_loss_and_round_trips(embedder, lfw_faces, lfw_embedded, tmp_path):
    cfg = TrainingConfig(
        epochs=3, steps_per_epoch=10, batch_size=32, restore_best=False, learning_rate=3e-3
    )
    trainer = SiameseTrainer(embedder, cfg)
    train, val = split_by_person(lfw_embedded, val_fraction=0.25, seed=0)
    records = []
    result = trainer.fit(train, validation=val, progress=records.append)

    assert [r["epoch"] for r in records] == list(range(len(records)))
    assert result.best_epoch == len(result.history) - 1
    before = training_loss(trainer.new_model(), train, cfg.effective_margin)
    after = training_loss(result.embedder, train, cfg.effective_margin)
    assert after < before

    tuned = result.embedder
    assert tuned.model_id != embedder.model_id and tuned.model_id.startswith(embedder.model_id)
    weights, meta = tuned.save(tmp_path / "tuned")
    record = json.loads(meta.read_text())
    assert record["base"]["sha256"] == embedder.sha256
    assert record["config"]["epochs"] == 3 and record["data"]["train"]["people"] == train.people
    back = load_finetuned(tmp_path / "tuned.json", embedder)
    assert back.model_id == tuned.model_id
    chips = lfw_faces.samples[:16]
    np.testing.assert_array_equal(back.embed(chips), tuned.embed(chips))
    assert not np.allclose(tuned.embed(chips), embedder.embed(chips), atol=1e-4)
    # The whole network as one Keras model (for SiameseNetwork.keras_model) agrees.
    from keras import ops

    whole = ops.convert_to_numpy(tuned.model(chips))
    np.testing.assert_allclose(whole, tuned.embed(chips), atol=1e-4)


def test_best_epoch_is_never_worse_on_validation(embedder, lfw_embedded):
    trainer = SiameseTrainer(embedder, epochs=2, steps_per_epoch=5, batch_size=16)
    result = trainer.fit(lfw_embedded)
    assert result.best["val_auc"] >= result.before["val_auc"]
    assert result.before["epoch"] == 0 and np.isnan(result.before["loss"])
    # The last epoch's model comes back too when it is not the one kept.
    assert (result.last is None) == (result.best_epoch == len(result.history) - 1)


def test_last_stage_round_trip(embedder, lfw_faces, tmp_path):
    faces = lfw_faces.select_people(range(6))
    trainer = SiameseTrainer(
        embedder,
        trainable="last_stage",
        epochs=1,
        steps_per_epoch=2,
        batch_size=8,
        restore_best=False,
    )
    base_stage = [w.copy() for w in embedder.model.get_layer("con_27").get_weights()]
    result = trainer.fit(faces, validation=lfw_faces.select_people(range(6, 9)))
    tuned = result.embedder
    chips = faces.samples[:4]
    # The base model is untouched: the stage was trained on a copy.
    for w, w0 in zip(embedder.model.get_layer("con_27").get_weights(), base_stage, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert not np.array_equal(tuned.tower.get_layer("con_27").get_weights()[0], base_stage[0])
    tuned.save(tmp_path / "stage")
    back = load_finetuned(tmp_path / "stage", embedder)
    np.testing.assert_array_equal(back.embed(chips), tuned.embed(chips))
    assert "+siamese-last_stage-" in back.model_id


def test_load_refuses_damaged_or_foreign(embedder, tmp_path):
    model = FineTunedEmbedder(embedder, build_head(), trainable="head")
    weights, meta = model.save(tmp_path / "m")
    assert load_finetuned(tmp_path / "m", embedder).model_id == model.model_id

    class OtherBase:
        sha256 = "0" * 64
        model_id = "dlib_resnet_v1-000000000000"

    with pytest.raises(ModelAssetError, match="base weights"):
        load_finetuned(tmp_path / "m", OtherBase())
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelAssetError, match="sha256"):
        load_finetuned(tmp_path / "m", embedder)
    meta.write_text("{not json")
    with pytest.raises(ModelAssetError, match="not JSON"):
        load_finetuned(tmp_path / "m", embedder)
    meta.write_text('{"format": "workbench-siamese/1"}')
    with pytest.raises(ModelAssetError, match="incomplete"):
        load_finetuned(tmp_path / "m", embedder)
    meta.write_text('{"format": "something-else"}')
    with pytest.raises(ModelAssetError, match="expected format"):
        load_finetuned(tmp_path / "m", embedder)
    with pytest.raises(ModelAssetError):
        load_finetuned(tmp_path / "absent", embedder)


def test_package_exports_lazily_without_keras():
    """``workbench.embed`` and the Keras-free parts of finetune import without Keras; the
    rest arrives on first use, and an unknown name is an AttributeError."""
    import subprocess
    import sys

    code = (
        "import sys, workbench.embed as e\n"
        "from workbench.embed.finetune import FaceSet, TrainingConfig, split_by_person\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'Keras imported'\n"
        "assert 'DlibNetwork' not in e.__all__ and 'LayerSpec' not in e.__all__\n"
        "assert 'SiameseTrainer' in e.__all__\n"
        "try:\n"
        "    e.NoSuchThing\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    import workbench.embed
    from workbench.embed.finetune.trainer import SiameseTrainer as defined

    assert workbench.embed.SiameseTrainer is defined
