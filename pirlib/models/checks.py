"""Checks of the timm parts of a config before a command's long work: the architecture names exist in timm and
timm accepts the settings, tried on the meta device (no memory, no weights read)."""

from __future__ import annotations

import dataclasses
import difflib

import timm
import torch

from pirlib.config import Config, ConfigError


def check_timm_name(key: str, name: str) -> None:
    """Raise ConfigError unless `name` (the value of config key `key`) is a timm architecture."""
    if not timm.is_model(name):
        match = difflib.get_close_matches(name, timm.list_models(), n=1)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        raise ConfigError(f"{key}='{name}' is not a timm architecture{hint} ({key}): set one of timm.list_models()")


def _try_build(what: str, build) -> None:
    try:
        with torch.device("meta"):
            build()
    except Exception as error:  # timm raises what the architecture's constructor raises for a bad argument
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        raise ConfigError(f"timm cannot build the {what} with these settings ({reason}): fix them") from None


def check_prior(config: Config) -> None:
    """The scene prior of `config.prior` exists in timm and accepts `prior.model_kwargs`."""
    from pirlib.models.encoders import ScenePrior

    check_timm_name("prior.model_name", config.prior.model_name)
    prior = dataclasses.replace(config.prior, checkpoint=None)
    _try_build(
        f"scene prior (prior.model_name, prior.model_kwargs={config.prior.model_kwargs!r})", lambda: ScenePrior(prior)
    )


def check_architecture(config: Config) -> None:
    """The vision encoder and the scene prior of `config` can be built (names, settings, model_kwargs)."""
    from pirlib.models.encoders import VisionEncoder

    check_timm_name("vision.model_name", config.vision.model_name)
    vision = dataclasses.replace(config.vision, pretrained=None)
    _try_build("vision encoder (the vision section)", lambda: VisionEncoder(vision))
    check_prior(config)
