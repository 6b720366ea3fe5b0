"""The package version, in a module of its own so that modules inside genrelab can read it
without importing the package root (which imports the whole classify API)."""

__version__ = "0.1.0"
