import sys

from session_sync.cli.app import main

sys.exit(main())
