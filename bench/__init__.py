"""Accord's benchmark suite: ``python3 -m service bench [--quick]`` (see bench/README in the
project README, "Performance")."""
