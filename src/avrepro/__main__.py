from avrepro.cli import main

raise SystemExit(main())
