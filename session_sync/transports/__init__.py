"""How the controller reaches the other machine's agent: one byte stream per sync.

``base`` draws the interface, ``connection`` speaks the protocol over any
stream; ``local``, ``ssh`` and ``codespace`` are the transports.
"""
