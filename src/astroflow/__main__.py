from astroflow.cli import main

raise SystemExit(main())
