"""The command lines: ``session-sync`` (``parser`` its flags, ``app`` its commands)
and the bin/ commands' flags (``codespace_flags``); ``common`` holds what they
share (exit codes, errors, progress)."""
