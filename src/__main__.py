import sys

from skyroad.cli import main

sys.exit(main())
