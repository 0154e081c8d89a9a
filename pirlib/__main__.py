import sys

from pirlib.cli import main

sys.exit(main())
