"""Loaded once by the forkserver that starts the curation's worker processes (``num_proc`` > 1).

Importing this module imports every curation step and loads the default language model,
so each worker forked from the server starts with them in memory (shared, copy-on-write)
instead of loading them again: a worker is ready in milliseconds rather than seconds.
"""

from __future__ import annotations

from . import pipeline  # noqa: F401  (the steps and the pipeline's worker function)
from .langid import _py3langid

_py3langid()
