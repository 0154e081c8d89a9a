"""The training engine behind `pirlib.train.fit` (paper §4.1 "Implementation details"), in small parts:

- `runtime.py`   device, precision (bf16 autocast on CUDA), torchrun / DDP process group
- `sampling.py`  data order as a function of (seed, epoch), resumable mid-epoch; per-sample augmentation seeds
- `rng.py`       RNG states of torch (CPU, CUDA), numpy and python as plain tensors (weights_only checkpoints)
- `state.py`     resumable training checkpoints and the run directory layout
- `logbook.py`   metrics.jsonl / metrics.csv
- `selection.py` model selection: validation split (honest) and the official best-epoch-on-test figure
- `loop.py`      `fit`: the loop itself
"""
