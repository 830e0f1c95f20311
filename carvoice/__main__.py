from carvoice.cli import main

raise SystemExit(main())
