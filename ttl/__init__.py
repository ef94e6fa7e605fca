"""ttl: build a compact Llama for a low-resource language, every step for real.

Stages (each a subpackage or module, each a `ttl <stage>` command):
data -> tokenizer -> model (+ kernels) -> train -> generate -> eval -> finetune.
"""

__version__ = "0.1.0"
