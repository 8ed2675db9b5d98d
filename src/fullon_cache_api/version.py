"""The package version, declared here only: ``pyproject.toml`` reads it (a dynamic
version) and every module that reports it imports it from here."""

__version__ = "0.3.0"
