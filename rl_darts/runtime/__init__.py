"""Run plumbing: one run's directory, checkpoints, metrics and pictures;
plans of runs, their queue and executors; logs and atomic writes."""
