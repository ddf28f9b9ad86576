"""What every endpoint of a session does the same way, for the host agent and the viewer.

An endpoint reaches the relay (`relay_link`), comes back after a dropped connection
(`reconnect`, `resume`), records the session as evidence (`evidence`, `recorder`),
ends it with the final checkpoints exchanged (`ending`) and decodes the tiles a frame
update carries (`tile_decode`). The protocol decisions are in `protocol/`; the rules of
the conversation are docs/session-contract.md. `host_agent/` and `viewer/` build on this
package and never on each other; `relay/` is the server only.
"""
