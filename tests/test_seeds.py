"""A run's random sources each have a seed of their own (train.split_seed, init_seed, data_seed, dropout_seed), all
`train.seed` unless set: a variance study varies one source at a time, and runs of different variants at one seed
share every source."""

from __future__ import annotations

import pytest

from pirlib.config import SEED_SOURCES, Config, ConfigError, apply_overrides, seed_of


def test_every_source_defaults_to_the_run_seed():
    config = apply_overrides(Config(), ["train.seed=7"])
    assert {source: seed_of(config.train, source) for source in SEED_SOURCES} == dict.fromkeys(SEED_SOURCES, 7)


def test_one_source_set_leaves_the_others_on_the_run_seed():
    config = apply_overrides(Config(), ["train.seed=7", "train.data_seed=3"])
    assert seed_of(config.train, "data") == 3
    assert [seed_of(config.train, source) for source in ("split", "init", "dropout")] == [7, 7, 7]


def test_unknown_source_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="unknown random source"):
        seed_of(Config().train, "weights")
    with pytest.raises(ConfigError):
        apply_overrides(Config(), ["train.init_seed=abc"])
