"""``python -m devstack`` (``make run``): the embedded stack, see devstack/stack.py."""

import sys

from devstack.stack import main

sys.exit(main())
