"""Data: the one reader, the loaders of every task, the raw-crawl maker, curation, packing.

    from ttl.data import load_task_data, load_corpus, corpus_texts, make_raw_crawl, run_curation

Names are imported lazily so that ``import ttl.data`` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_task_data": "loaders", "load_corpus": "loaders", "load_assin2": "loaders", "load_hatebr": "loaders",
    "load_faquad_nli": "loaders", "stratified_subset": "loaders",
    "corpus_texts": "readers", "DataError": "readers", "iter_input": "readers", "read_table": "readers",
    "make_raw_crawl": "crawl", "write_raw_crawl": "crawl",
    "run_curation": "curate", "curate_main": "curate", "load_curation_config": "curate",
    "pack_documents": "packing", "open_blocks": "packing", "TokenBlocks": "packing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ttl.data' has no attribute {name!r}")
