import sys

from sharpeyes.cli import main

sys.exit(main())
