"""Experiments and reports: cell studies, the paper's results as plans,
planted-architecture recovery, power analysis, the Jacobian study and the
report over finished runs."""
