import sys

from session_sync.cli import main

sys.exit(main())
