"""`python -m sftscope.tui.cli`: the same as the `sftscope` script."""

import sys

from sftscope.tui.cli.main import main

sys.exit(main())
