"""`python -m jaxseg` runs the `jaxseg` command."""

import sys

from jaxseg.cli import main

sys.exit(main())
