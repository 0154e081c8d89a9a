"""The command-line entry point lists every command and fails clearly on an unknown one."""

from __future__ import annotations

import subprocess
import sys

from pirlib.cli import COMMANDS, main


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "pirlib", "--help"], capture_output=True, text=True, check=True)
    for command in ["synth", "prepare", "train", "evaluate", "embed", "convert-official", "bench"]:
        assert command in COMMANDS
        assert command in result.stdout


def test_unknown_command_is_an_error(capsys):
    try:
        code = main(["frobnicate"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert "invalid choice" in capsys.readouterr().err
