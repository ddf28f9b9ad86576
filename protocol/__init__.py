"""Sans-I/O core of fernwartung: codes, handshake, channel, messages, relay control.

Nothing in this package opens a socket, starts a thread, reads a clock or draws a window.
"""

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
