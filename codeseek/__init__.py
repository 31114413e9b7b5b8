"""codeseek: search a git repository by meaning."""

__version__ = "0.1.0"
