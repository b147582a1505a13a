"""Command-line interface; ``mobilenet.cli.main:main`` is the console script."""
