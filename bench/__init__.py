"""Benchmark of hardattn_utils: ``make bench`` runs ``bench/run.py`` and writes ``bench/RESULTS.md``."""
