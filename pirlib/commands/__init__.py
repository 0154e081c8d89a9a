"""One module per `python -m pirlib` command: `add_arguments(parser)` and `run(args) -> int`."""
