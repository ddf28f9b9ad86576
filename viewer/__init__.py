"""The technician's viewer: display, input, headless automation, recording.

How it talks to the host agent (flow, messages, flow control, exit statuses):
docs/session-contract.md.
"""
