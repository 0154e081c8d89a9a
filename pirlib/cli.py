"""Command-line interface: `python -m pirlib <command> [options]`.

Each command lives in its own module `pirlib/commands/<name>.py` exposing `add_arguments(parser)` and
`run(args) -> int`; this file only lists them, so `--help` stays fast (modules are imported on use).

Every expected failure (bad input, an output in use or not writable, a full disk, Ctrl-C) ends in one line on stderr,
`pirlib <command>: <what> (<file/key/value>): <what to do>`, and exit code 2; the traceback is shown only with
`--debug`, or for a failure that is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

COMMANDS = {
    "synth": "generate the SynthRS dataset (the offline default)",
    "prepare": "prepare RSITMD / RSICD from their annotation files and images",
    "pretrain-prior": "pretrain the scene-prior CNN on scene classification",
    "train": "train PIR, the baseline or an ablation",
    "evaluate": "retrieval metrics (R@1/5/10 both ways, mR) of a checkpoint",
    "embed": "export image and text embeddings of a checkpoint",
    "convert-official": "convert an official PIR checkpoint to a pirlib checkpoint",
    "bench": "throughput, memory and hot-spot benchmarks",
}


def _module_name(command: str) -> str:
    return "pirlib.commands." + command.replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pirlib", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for command, help_text in COMMANDS.items():
        subparsers.add_parser(command, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints usage / help / the unknown-command error
        return 2
    command, rest = argv[0], argv[1:]
    if importlib.util.find_spec(_module_name(command)) is None:
        print(f"pirlib {command}: not implemented yet", file=sys.stderr)
        return 2
    module = importlib.import_module(_module_name(command))
    sub = argparse.ArgumentParser(prog=f"python -m pirlib {command}", description=COMMANDS[command])
    module.add_arguments(sub)
    sub.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = sub.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except BaseException as error:
        message = None if args.debug else expected_failure(error)
        if message is None:
            raise
        print(f"pirlib {command}: " + " ".join(message.split()), file=sys.stderr)
        return 2


def expected_failure(error: BaseException) -> str | None:
    """The one-line message of an expected failure, or None for a bug (whose traceback must be seen)."""
    from pirlib.commands import user_errors
    from pirlib.output_folders import is_write_error

    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C): outputs are written atomically; rerun the command (train: add --resume)"
    if isinstance(error, user_errors()):
        return _without_worker_traceback(str(error))
    if isinstance(error, OSError) and is_write_error(error):
        where = error.filename or "the output being written"
        return f"cannot write ({error.strerror}) ({where}): free some space or choose a writable --out"
    return None


def _without_worker_traceback(message: str) -> str:
    """The original message of an error raised in a DataLoader worker (which torch re-raises in the main process
    with the worker's whole traceback as its message: "Caught X in DataLoader worker ... Original Traceback ...")."""
    if "Original Traceback" not in message:
        return message
    last = message.rstrip().splitlines()[-1]  # "package.module.ErrorType: the original message"
    kind, separator, original = last.partition(": ")
    return original if separator and "." in kind and " " not in kind else last
