"""lamina's version (the same as pyproject.toml's), where saving can read it without importing the package."""
__version__ = "0.1.0"
