"""Experiments: the command line, config composition, sweeps and reports."""
