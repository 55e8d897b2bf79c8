"""``python -m tracline.delivery serve``: the long-lived deliverer (see ``_service``)."""

from __future__ import annotations

import sys

from tracline.config import get_config
from tracline.delivery._service import serve
from tracline.errors import ConfigError


def main(argv: list[str]) -> int:
    if argv != ["serve"]:
        sys.stderr.write("usage: python -m tracline.delivery serve\n")
        return 2
    try:
        config = get_config()
    except ConfigError as e:
        sys.stderr.write(f"tracline: error: {e}\n")
        return 2
    return serve(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
