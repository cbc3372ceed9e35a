from runsc_py.cli import main

raise SystemExit(main())
