"""Peer benchmark: fernwartung against x11vnc (and TigerVNC's Xvnc) on the same workloads.

Run it with `python3 benchmarks/peer.py`; see `benchmarks/peer/main.py`.
"""
