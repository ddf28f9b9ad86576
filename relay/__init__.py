"""The relay: rendezvous, pairing, opaque forwarding, technicians, ledger."""
