"""Scene probe: how well a linear classifier on global image statistics recognises SynthRS scenes.

A calibration check for the data (SYNTHRS_FINDINGS: a scene prior has nothing to add when scenes are trivially
separable). Features are what a global average sees: a 4×4 thumbnail and colour histograms. If scenes were
separable from them, the confusable groups would not be confusable; we want moderate accuracy, with most errors made
between classes of the same group (the "semantic confusion zones" the affiliation loss of paper §3.4 reduces).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from pirlib.data.format import load_index
from pirlib.data.synthrs.scenes import SCENES

THUMBNAIL = 4
HISTOGRAM_BINS = 16


def global_features(path: os.PathLike) -> np.ndarray:
    """[THUMBNAIL² · 3 + 3 · HISTOGRAM_BINS] thumbnail pixels and per-channel colour histograms, in [0, 1]."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        thumbnail = np.asarray(rgb.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX), dtype=np.float32) / 255.0
        pixels = np.asarray(rgb, dtype=np.float32).reshape(-1, 3) / 255.0  # [H*W, 3]
    histograms = [np.histogram(pixels[:, c], bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0] / len(pixels) for c in range(3)]
    return np.concatenate([thumbnail.reshape(-1), *histograms]).astype(np.float32)


def scene_probe(out_dir: str | os.PathLike, seed: int = 0) -> dict:
    """Train logistic regression on the train split, report test accuracy, group accuracy and where errors fall."""
    from sklearn.linear_model import LogisticRegression  # imported on use: scikit-learn is slow to import
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    index = load_index(out_dir)
    train_ids, test_ids = index.split_ids("train"), index.split_ids("test")
    features = {i: global_features(index.image_path(i)) for i in train_ids + test_ids}
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5, random_state=seed))
    classifier.fit(np.stack([features[i] for i in train_ids]), index.labels(train_ids))
    predicted = classifier.predict(np.stack([features[i] for i in test_ids]))
    truth = np.array(index.labels(test_ids))
    group = np.array([SCENES[k].group for k in range(len(SCENES))])
    errors = predicted != truth
    confusion = np.zeros((len(index.classes), len(index.classes)), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    return {
        "accuracy": round(float((~errors).mean()), 4),
        "group_accuracy": round(float((group[predicted] == group[truth]).mean()), 4),
        "chance": round(1.0 / len(index.classes), 4),
        "errors_within_group": round(
            float((group[predicted] == group[truth])[errors].mean()) if errors.any() else 0, 4
        ),
        "classes": list(index.classes),
        "confusion": confusion.tolist(),  # rows: true class, columns: predicted class
    }
