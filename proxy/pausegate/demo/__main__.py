"""Demo root: ``python -m pausegate.demo`` runs the same demo as ``pausegate demo``."""

import sys

from pausegate.demo.run import main

sys.exit(main())
