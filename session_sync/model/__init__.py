"""Pure values and decisions: manifests, the reconcile table, wire ops, reports.

Nothing here touches a file, the clock, a process or the network (a test checks
the imports): every function is a function of its arguments.
"""
