"""Export: what leaves the run for other tools.

* ``card.py``: the model cards (README.md with metadata) and the sampling defaults of the
  Hugging Face folders, which :func:`ttl.model.hf.save_hf` writes;
* ``gguf.py``: one GGUF file for llama.cpp, with the tokenizer it needs to be the same model,
  and quantization.
"""

from .card import SAMPLING_DEFAULTS, classifier_card, model_card

__all__ = ["SAMPLING_DEFAULTS", "classifier_card", "model_card"]
