"""``python -m training.report``."""

from training.report import main

raise SystemExit(main())
