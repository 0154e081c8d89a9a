"""`pirlib evaluate --protocol/--tie-rule` on an untrained tiny PIR over a tiny SynthRS: the official keys stay, the
duplicate-aware block equals them (SynthRS has no repeated caption), bad flags fail with exit code 2."""

from __future__ import annotations

import json

import pytest
from train_helpers import make_synthrs, tiny_config

from pirlib.checkpoint import save_model
from pirlib.cli import main
from pirlib.data import build_tokenizer
from pirlib.metrics import METRIC_KEYS
from pirlib.models import PIR


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    data = make_synthrs(tmp_path_factory.mktemp("synthrs"))
    config = tiny_config(data)
    tokenizer = build_tokenizer(config.text, data)
    directory = tmp_path_factory.mktemp("checkpoint")
    save_model(PIR(config, vocab_size=len(tokenizer)), config, directory, tokenizer=tokenizer)
    return directory, data


def test_dedup_block_beside_the_official_keys(checkpoint, tmp_path, capsys):
    directory, data = checkpoint
    official_out, dedup_out = tmp_path / "official.json", tmp_path / "dedup.json"
    assert main(["evaluate", "--checkpoint", str(directory), "--data", str(data), "--out", str(official_out)]) == 0
    command = ["evaluate", "--checkpoint", str(directory), "--data", str(data), "--out", str(dedup_out)]
    assert main([*command, "--protocol", "dedup"]) == 0
    official, both = json.loads(official_out.read_text()), json.loads(dedup_out.read_text())
    assert "dedup" not in official and official["protocol"] == "official" and official["tie_rule"] == "pessimistic"
    assert {key: both[key] for key in METRIC_KEYS} == {key: official[key] for key in METRIC_KEYS}
    assert {key: both["dedup"][key] for key in METRIC_KEYS} == {key: official[key] for key in METRIC_KEYS}
    assert both["dedup"]["text_queries"] == both["captions"] == 80
    assert '"dedup"' in capsys.readouterr().out


def test_bad_protocol_is_a_usage_error(checkpoint, capsys):
    directory, data = checkpoint
    with pytest.raises(SystemExit) as raised:
        main(["evaluate", "--checkpoint", str(directory), "--data", str(data), "--protocol", "skyscript"])
    assert raised.value.code == 2 and "invalid choice: 'skyscript'" in capsys.readouterr().err
