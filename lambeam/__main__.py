"""`python -m lambeam` runs the CLI."""

from lambeam.cli import run

run()
