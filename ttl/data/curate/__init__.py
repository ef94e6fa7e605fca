"""Corpus curation (chapter 1): turn a raw web crawl into a clean pretraining corpus.

One module per step, composed by :mod:`ttl.data.curate.pipeline` from a YAML
config (default ``ttl/data/resources/curation.yaml``):

normalize -> line_filter -> language -> quality -> toxicity -> pii -> exact_dedup -> near_dedup

    from ttl.data.curate import run_curation
    report = run_curation(None, "crawl.jsonl", "runs/smoke/corpus")
    print(report.summary())
"""

from .base import CurationInputError, Step, StepStats
from .config import CurationConfig, build_steps, load_curation_config
from .dedup import ExactDedup
from .langid import LanguageFilter
from .lines import LineFilter
from .minhash import NearDedup
from .normalize import Normalize
from .pii import PIIMasker, is_valid_cnpj, is_valid_cpf
from .pipeline import CurationReport, curate_main, run_curation
from .quality import QualityFilter
from .scoring import CurationScore, score_curation
from .toxicity import ToxicityFilter

__all__ = [
    "CurationConfig", "CurationInputError", "CurationReport", "CurationScore", "ExactDedup", "LanguageFilter", "LineFilter",
    "NearDedup", "Normalize", "PIIMasker", "QualityFilter", "Step", "StepStats", "ToxicityFilter",
    "build_steps", "curate_main", "is_valid_cnpj", "is_valid_cpf", "load_curation_config", "run_curation", "score_curation",
]
