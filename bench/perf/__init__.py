"""Parts of bench/run.py: the performance benchmark (issue 8)."""
