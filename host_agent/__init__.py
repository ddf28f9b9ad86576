"""The host agent the customer runs: code, consent, screen stream, gated input.

How it talks to the viewer (flow, messages, flow control, exit statuses):
docs/session-contract.md (the CONTRACT of the engineering briefing).
"""
