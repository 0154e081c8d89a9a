"""One module per `python -m pirlib` command: `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations


def user_errors() -> tuple[type[Exception], ...]:
    """Exception types that mean bad input (config, paths, files, outputs): the CLI prints them as one line."""
    from pirlib.checkpoint import CheckpointError
    from pirlib.config import ConfigError
    from pirlib.data.format import DatasetFormatError
    from pirlib.data.images import ImageLoadError
    from pirlib.data.prepare import PrepareError
    from pirlib.data.tokenizer import TokenizerError
    from pirlib.models.weights import WeightsError
    from pirlib.output_folders import OutputError

    return (
        ConfigError,
        CheckpointError,
        DatasetFormatError,
        ImageLoadError,
        PrepareError,
        TokenizerError,
        WeightsError,
        OutputError,
        FileNotFoundError,
    )
