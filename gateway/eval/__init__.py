"""``arbiter rank``: eval datasets, assertions, judged scores, the run and its report."""

from gateway.eval.dataset import ASSERTIONS, DatasetError, EvalCase, load_dataset, parse_dataset

__all__ = ["ASSERTIONS", "DatasetError", "EvalCase", "load_dataset", "parse_dataset"]
