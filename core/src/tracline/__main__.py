"""`python -m tracline`."""

import sys

from tracline.cli import main

sys.exit(main())
