"""The checks engine: small checks that each return an explained Verdict, and the pipeline
that runs them in order and combines their verdicts under the site's policy."""

from core.checks.base import Action, Check, CheckContext, CheckUnavailable, Verdict
from core.checks.pipeline import PipelineResult, default_checks, run_pipeline

__all__ = [
    "Action",
    "Check",
    "CheckContext",
    "CheckUnavailable",
    "PipelineResult",
    "Verdict",
    "default_checks",
    "run_pipeline",
]
