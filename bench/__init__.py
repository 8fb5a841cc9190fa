"""Benchmarks (run as scripts, e.g. `.venv/bin/python bench/ingest.py`); see bench/README.md."""
