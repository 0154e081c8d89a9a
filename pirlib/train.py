"""Training entry point (paper §4.1): `fit(config, out_dir, max_steps, resume)`; the engine lives in
`pirlib.training` (loop, sampling, runtime, checkpoint state, model selection, metrics log)."""

from __future__ import annotations

from pirlib.training.loop import TrainingDiverged, fit

__all__ = ["TrainingDiverged", "fit"]
