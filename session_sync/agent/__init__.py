"""The session-sync agent: the code that runs on each machine of a sync.

Standard library only, Python 3.8+: it is shipped to the other machine over the
sync's one connection and run there by any ``python3`` (``session_sync.bundle``
builds the payload; ``loader`` serves these modules from memory, so nothing is
written to that machine's disk). The controller imports the same modules as
``session_sync.agent.*`` and calls them in-process for the local side: one
implementation of scanning, packing and applying serves both ends.

The modules, in the order the data flows:

* ``protocol`` frames on the byte stream (and ``Refusal``, a refusal as data);
* ``paths``, ``gitinfo``, ``transcript``, ``live``: what this machine holds;
* ``reading``: opening a file below a dir without following a link;
* ``hashcache`` and ``scan``: the manifest of one project (or folder);
* ``fsutil``, ``backups``, ``apply``, ``restore``: changing files safely;
* ``serve``: the request loop.

Every module imports only the standard library and its siblings, by relative
imports, so the package works under any name (``session_sync.agent`` here,
``loader.PACKAGE`` on the far side). This ``__init__`` imports nothing.
"""
