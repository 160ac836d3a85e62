"""``python -m plexpin_widget.emulator --port 8000``; see :func:`plexpin_widget.emulator.main`."""

from ._cli import main

raise SystemExit(main())
