"""Config system: paper defaults, YAML round trip, strict keys and types, command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pirlib.config import (
    Config,
    ConfigError,
    apply_overrides,
    dump_config,
    from_dict,
    load_config,
    save_config,
    to_dict,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_are_the_papers_hyper_parameters():
    config = Config()
    assert config.model.embed_dim == 512
    assert config.model.filter_size == 40
    assert config.model.num_instruction_layers == 2
    assert config.model.num_cycles == 3
    assert config.model.num_attention_heads == 8
    assert config.model.dropout == 0.2
    assert config.model.temperature == config.model.affiliation_temperature == 0.07
    assert config.loss.affiliation_weight == 1.0
    assert config.text.max_tokens == 47
    assert config.vision.depths == (2, 2, 6, 2) and config.vision.embed_dim == 96
    assert config.train.learning_rate == 6e-5 and config.train.batch_size == 128 and config.train.epochs == 50
    assert config.train.betas == (0.9, 0.98) and config.train.warmup_fraction == 0.1


@pytest.mark.parametrize("name", ["paper_rsitmd.yaml", "paper_rsicd.yaml", "tiny_synthrs.yaml"])
def test_yaml_round_trip(name, tmp_path):
    config = load_config(CONFIGS / name)
    path = tmp_path / "resolved.yaml"
    save_config(config, path)
    assert load_config(path) == config
    assert yaml.safe_load(path.read_text()) == to_dict(config)
    assert from_dict(Config, yaml.safe_load(dump_config(config))) == config


def test_shipped_profiles_differ_where_they_should():
    tiny = load_config(CONFIGS / "tiny_synthrs.yaml")
    rsitmd = load_config(CONFIGS / "paper_rsitmd.yaml")
    assert tiny.vision.image_size == 112 and tiny.vision.depths == (1, 1, 2)
    assert rsitmd.data.root == "data/rsitmd" and rsitmd.model == Config().model


def test_misspelt_key_in_file_names_key_and_closest(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  fliter_size: 30\n")
    with pytest.raises(ConfigError, match=r"unknown key 'fliter_size'.*did you mean 'filter_size'"):
        load_config(path)
    path.write_text("trian:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'trian'.*did you mean 'train'"):
        load_config(path)


def test_wrong_type_names_expected_type(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: three\n")
    with pytest.raises(ConfigError, match=r"train\.epochs: expected int, got 'three'"):
        load_config(path)
    path.write_text("model:\n  use_vir: 1\n")
    with pytest.raises(ConfigError, match=r"use_vir: expected bool"):
        load_config(path)
    path.write_text("loss:\n  objective: hinge\n")
    with pytest.raises(ConfigError, match=r"objective: expected one of 'contrastive', 'triplet'"):
        load_config(path)


def test_overrides_parse_values_and_check_keys():
    config = apply_overrides(
        Config(),
        ["train.epochs=3", "train.learning_rate=1e-3", "vision.depths=[1, 1, 2]", "vision.num_heads=[3, 6, 12]"]
        + ["train.max_steps=null"],
    )
    assert config.train.epochs == 3 and config.train.learning_rate == 1e-3
    assert config.vision.depths == (1, 1, 2) and config.train.max_steps is None
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' in train.*did you mean 'epochs'"):
        apply_overrides(Config(), ["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"expected section\.field=value"):
        apply_overrides(Config(), ["train.epochs"])
    with pytest.raises(ConfigError, match=r"'train' is a section"):
        apply_overrides(Config(), ["train=3"])
    with pytest.raises(ConfigError, match=r"expected float"):
        apply_overrides(Config(), ["train.learning_rate=fast"])


def test_missing_file_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
