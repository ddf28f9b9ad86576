"""The host agent the customer runs: code, consent, screen stream, gated input."""
