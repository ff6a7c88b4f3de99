"""`python -m skyroad.launcher FILE.launch.xml [name:=value ...]` = `skyroad launch ...`."""
import sys

from .cli import main

sys.exit(main())
