"""``python -m mobilenet`` runs the command-line tool."""

import sys

from mobilenet.cli.main import main

sys.exit(main())
