"""GitHub: the ``gh`` CLI and codespace states (``gh``), which syncs a codespace
command runs (``syncs``) and what they share (``parts``), the design document's
functions (``api``), the codespace commands (``workflows``) and the hourly job
(``background``)."""
