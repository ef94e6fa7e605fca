"""The SFT and DPO settings of a profile, with a run's overrides.

They live in the profile like every other stage's (sections ``sft`` and ``dpo`` of the YAML,
typed and range-checked by :mod:`ttl.config`); any field can be overridden here
(``chat_config(profile, sft={"max_steps": 10})``) or on the command line (``--steps``/``--lr``/
``--beta``). The seed is the profile's ``train.seed`` unless an override names one.
"""

from __future__ import annotations

import dataclasses

from ..config import DPOConfig, Profile, SFTConfig, load_profile


def chat_config(profile: Profile | str, *, sft: dict | None = None,
                dpo: dict | None = None) -> tuple[SFTConfig, DPOConfig]:
    """The SFT and DPO settings of ``profile`` (a Profile or its name/path), with overrides."""
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    seed = {"seed": profile.train.seed}
    return (dataclasses.replace(profile.sft, **{**seed, **(sft or {})}),
            dataclasses.replace(profile.dpo, **{**seed, **(dpo or {})}))

