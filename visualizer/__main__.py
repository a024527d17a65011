import sys

from visualizer.cli import main

sys.exit(main())
