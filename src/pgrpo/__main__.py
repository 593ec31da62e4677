"""`python -m pgrpo` is the `pgrpo` command."""

import sys

from pgrpo.cli import main

sys.exit(main())
