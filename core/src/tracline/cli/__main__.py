"""`python -m tracline.cli`."""

import sys

from tracline.cli import main

sys.exit(main())
