"""The tutorial wing: what only the notebooks need, built on the library (`pirlib.models`, `losses`, `metrics`,
`data`, `training`, `evaluation`, `checkpoint`, `official`). The library never imports this package.

- `runs.py`                 variants as config overrides, the plan of a study, run-or-load, histories, manifests
- `scheduler.py`            `run_many`: a study's jobs in parallel single-threaded worker processes
- `stats.py`                mean ± std, Welch and paired t-intervals of differences, detectable differences, verdicts
- `power.py`                power before training (detectable differences beside the paper's gains), paired comparisons
- `notebook_config.py`      a profile as the notebooks use it (weight paths from the repository root)
- `scene_prior.py`          the scene corpus and the pretrained scene prior every notebook uses (made by notebook 02)
- `objective.py`            the losses worked by hand against `pirlib.losses`, one explicit training step, the schedule
- `tables.py`               per-seed and mean ± std tables; `save_table` writes results/NAME.csv and .md
- `checks.py`               the study's checks on any machine (chance, rising curves, reference band) and the exact
                            same-machine check against notebooks/reference/03_training.json
- `studies.py`              the recorded studies (`python -m pirlib.tutorial.studies NAME`) -> docs/studies/
- `study_summaries.py`      their tables and figures for the notebooks, and docs/studies/README.md
- `variance.py`             where the seed spread comes from: a bootstrap over the test images
- `training_summary.py`     notebook 03's summary; `summaries.py` those of 04 and 05
- `claims.py`               the paper's claims: this run's paired verdicts beside the recorded decisive study, and VIR's
                            mechanism evidence
- `ground_truth.py`         VIR against the SynthRS token map (belief AUC, key-object survival, attention shares)
- `ground_truth_plots.py`   belief maps with key objects, distractors and landmarks outlined
- `subspace.py`             common-subspace confusion metrics and UMAP
- `plots.py`                the notebooks' figure helpers
- `query.py`                a free-text caption against a run's test images
"""
