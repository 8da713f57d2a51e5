"""Accord's benchmark suite: ``python3 -m service bench [--quick | --smoke]``; see the README,
"Performance", and bench/RESULTS.md."""
