"""The one version of every Conveyor package (the library and the three services)."""

__version__ = "0.2.0"
