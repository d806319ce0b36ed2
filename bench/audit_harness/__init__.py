"""Parts of bench/audit_bench.py: the access-log benchmark."""
