"""A released model (TeenyTinyLlama-160m/460m, or any Hugging Face Llama folder) as the run's model.

A profile with ``published.model`` set skips pretraining: chapters 6-9 generate, evaluate and
fine-tune with the released weights, loaded by the loaders our own export goes through
(:func:`ttl.model.from_hf`, ``AutoTokenizer``, ``AutoModelForSequenceClassification``), so a
reader on Colab runs the same cells on the real model.

Only data files are downloaded or read. A repository on the Hub may hold its weights twice, as
``model.safetensors`` and as ``pytorch_model.bin``; the second is a pickle, and unpickling runs
whatever code the file names. The download takes the files in :data:`SAFE_FILES` only, and a
folder whose weights exist only as pickles is refused with the way to convert them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from ..manifest import digest_data, digest_file, digest_stat

# What a model folder needs, and nothing that executes code when loaded.
SAFE_FILES = ("config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json",
              "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
              "added_tokens.json", "README.md")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Smaller files are hashed whole; the weights (hundreds of MB) by name, size and time.
_HASH_WHOLE_BELOW = 16 * 2**20


class PublishedModelError(ValueError):
    """A published model that cannot be used as it is: the message says why and what to do."""


def is_hub_name(spec: str) -> bool:
    """``owner/name`` that is not a folder on this machine."""
    return bool(_HUB_NAME.match(spec)) and not Path(spec).expanduser().exists()


def published_folder(spec: str, revision: str | None = None, *, download: bool = True) -> Path:
    """The local folder of ``spec``: itself when it is a folder, else its Hub snapshot.

    ``download=False`` (``ttl status``) only looks in the local Hub cache.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        if revision:
            raise PublishedModelError(f"published.revision ({revision!r}) applies to a Hub name; "
                                      f"{path} is a local folder: leave revision out")
        folder = path
    elif is_hub_name(spec):
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(spec, revision=revision, allow_patterns=list(SAFE_FILES),
                                            local_files_only=not download))
        except Exception as exc:  # offline, unknown repository or revision, no access
            where = f"{spec}@{revision}" if revision else spec
            raise PublishedModelError(
                f"cannot get the published model {where} from the Hugging Face Hub ({type(exc).__name__}: "
                f"{exc}). Check the name and the network, or download it elsewhere "
                "(huggingface_hub.snapshot_download) and set published.model to that folder") from exc
    else:
        raise PublishedModelError(f"published.model {spec!r} is neither a folder on this machine nor a Hub "
                                  "name (owner/name, e.g. nicholasKluge/TeenyTinyLlama-160m)")
    check_layout(folder)
    return folder


def check_layout(folder: Path) -> None:
    """Stop with a clear error unless ``folder`` holds a Llama, safetensors weights and a tokenizer."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise PublishedModelError(f"{folder} is not a Hugging Face model folder (no config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("model_type") != "llama":
        raise PublishedModelError(f"{folder} holds a {config.get('model_type')!r} model; ttl runs Llama models "
                                  "(config.json model_type 'llama'), as TeenyTinyLlama is")
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(p.name for p in folder.glob("*.bin"))
        found = f" (it has {', '.join(pickles)}: pickles, which run code when loaded)" if pickles else ""
        raise PublishedModelError(
            f"{folder} has no .safetensors weights{found}. ttl loads safetensors only; convert trusted "
            "weights once with transformers (from_pretrained, then save_pretrained(safe_serialization=True)) "
            "or choose a revision that has model.safetensors")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise PublishedModelError(f"{folder} has no tokenizer ({' or '.join(_TOKENIZER_FILES)})")


def published_identity(folder: Path) -> str:
    """A digest that changes when any file the model is loaded from changes."""
    parts = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".bin"):
        parts[path.name] = digest_file(path) if path.stat().st_size < _HASH_WHOLE_BELOW else digest_stat(path)
    return digest_data(parts)


def load_published_tokenizer(folder: Path):
    """The folder's tokenizer, with a padding token: fine-tuning pads batches, and a tokenizer
    saved without one gets ``<pad>`` when its vocabulary has it (TeenyTinyLlama's: id 3), else
    ``<unk>``; padded positions are masked, so the choice changes no score."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token is None:
        vocab = tokenizer.get_vocab()
        tokenizer.pad_token = "<pad>" if "<pad>" in vocab else (tokenizer.unk_token or tokenizer.eos_token)
    return tokenizer


def load_published_model(folder: Path, dtype: torch.dtype = torch.float32):
    """Our Llama with the published weights, read from safetensors only."""
    from transformers import AutoModelForCausalLM

    from .hf import from_hf

    # No dtype argument: its name changed between transformers 4 and 5; cast afterwards.
    hf_model = AutoModelForCausalLM.from_pretrained(str(folder), use_safetensors=True).to(dtype)
    return from_hf(hf_model).eval()


def hub_folder_name(folder: Path) -> str:
    """A short name to print: ``owner/name@commit`` for a Hub snapshot, else the path."""
    parts = Path(os.path.realpath(folder)).parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return parts[-3][len("models--"):].replace("--", "/") + "@" + parts[-1][:12]
    return str(folder)
