"""`python -m tracline.cli`."""

from tracline.cli import console

console()
