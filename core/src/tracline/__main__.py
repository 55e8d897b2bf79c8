"""`python -m tracline`."""

from tracline.cli import console

console()
