import sys

from fernwartung.cli import main

sys.exit(main())
