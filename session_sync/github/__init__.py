"""GitHub: the ``gh`` CLI and codespace states (``gh``), the design document's
functions (``api``), the codespace commands (``workflows``) and the hourly job
(``background``)."""
