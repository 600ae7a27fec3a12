"""``python -m calibench``: the same CLI as the ``calibench`` command."""

from calibench.cli import main

raise SystemExit(main())
