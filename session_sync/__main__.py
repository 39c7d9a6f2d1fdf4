from session_sync.cli import main
import sys

sys.exit(main())
