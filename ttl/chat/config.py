"""Chat tuning settings per profile (SFT and DPO), kept beside the chat code.

The profiles' YAML files have no chat section yet; these are the values each profile uses,
and any field can be overridden (``chat_config(profile, sft={"max_steps": 10})``, or the
command line's ``--steps``/``--lr``/``--beta``).
"""

from __future__ import annotations

import dataclasses

from .dpo import DPOConfig
from .sft import SFTConfig

# smoke: seconds on 2 CPU cores. colab: one T4/L4, tens of minutes. ttl-160m / ttl-460m: the
# published models' scale: about 3 epochs of a 100k-300k conversation set (UltraChat-size)
# at 2048 tokens, then one epoch of 60k preference pairs (UltraFeedback-size), beta 0.1.
PER_PROFILE = {
    "smoke": ({}, {}),
    "colab": ({"max_steps": 2000, "batch_size": 16, "lr": 2e-4, "max_length": 1024, "save_every": 500,
               "log_every": 50, "warmup_steps": 50},
              {"max_steps": 1000, "batch_size": 8, "lr": 5e-6, "max_length": 1024, "save_every": 250,
               "log_every": 25, "warmup_steps": 50}),
    "ttl-160m": ({"max_steps": 20000, "batch_size": 32, "lr": 2e-5, "max_length": 2048, "save_every": 1000,
                  "log_every": 50, "warmup_steps": 500},
                 {"max_steps": 8000, "batch_size": 16, "lr": 5e-7, "max_length": 2048, "save_every": 1000,
                  "log_every": 50, "warmup_steps": 200}),
}
PER_PROFILE["ttl-460m"] = PER_PROFILE["ttl-160m"]


def chat_config(profile, *, sft: dict | None = None, dpo: dict | None = None) -> tuple[SFTConfig, DPOConfig]:
    """The SFT and DPO settings of ``profile`` (a Profile or its name), with overrides."""
    name = getattr(profile, "name", profile)
    base_sft, base_dpo = PER_PROFILE.get(name, PER_PROFILE["colab"])
    seed = getattr(getattr(profile, "train", None), "seed", None)
    extra = {"seed": seed} if seed is not None else {}
    return (SFTConfig(**{**base_sft, **extra, **(sft or {})}), DPOConfig(**{**base_dpo, **extra, **(dpo or {})}))


def as_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
