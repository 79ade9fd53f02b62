from __future__ import annotations

from loopwarden._cli._main import main

raise SystemExit(main())
