"""tokenbooks: puts a company's AI spend into its books."""

__version__ = "0.1.0"
