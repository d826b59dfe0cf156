"""`python -m mediadesk`, and the PyInstaller build's entry script."""

import sys

from mediadesk import main

sys.exit(main())
