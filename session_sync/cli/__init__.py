"""The command lines: ``session-sync`` (``app``) and the bin/ commands' flags
(``codespace_flags``); ``common`` holds what they share (exit codes, errors,
progress)."""
