"""The front door: the `fernwartung` command wires relay, host agent and viewer together."""

__version__ = "0.1.0"
