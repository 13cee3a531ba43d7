"""Semáforo's pipeline library: sources, normalize, compile, tables, checks, publish, settings and CLI.

Everything here is importable without Airflow; DAG files, the CLI and notebooks only call these functions.
"""

__version__ = "0.1.0"
