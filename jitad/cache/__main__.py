"""``python -m jitad.cache [--info | --clear]``: see ``jitad.cache.main``."""
import sys

from . import main

sys.exit(main())
