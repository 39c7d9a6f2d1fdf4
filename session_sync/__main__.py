import sys

from session_sync.cli.entry import main

sys.exit(main())
