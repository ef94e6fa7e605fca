"""Export: the Hugging Face folder's model card and sampling defaults (``card.py``).

The folder itself is written by :func:`ttl.model.hf.save_hf`; GGUF and quantization are to come.
"""

from .card import SAMPLING_DEFAULTS, classifier_card, model_card

__all__ = ["SAMPLING_DEFAULTS", "classifier_card", "model_card"]
