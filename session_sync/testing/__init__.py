"""Test support, public and marked as such: not part of syncing anything.

``sessions`` writes realistic Claude Code transcripts; ``transports`` runs an
agent in a thread of this process; ``sandbox`` starts real sshd servers, a fake
``gh`` and a TCP relay for simulated machines.
"""
