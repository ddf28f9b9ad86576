"""Padding of end-to-end messages, so their lengths tell the relay less (issue 20, point 16).

The relay sees when each message passes and how long its ciphertext is. Unpadded, a Key
message was 5 bytes for "a", 10 for "Return" and 13 for "BackSpace", and the update a
typed character causes has a size of its own. A side pads what it sends once the peer's
Hello announced `PADDING_CAPABILITY` (an older peer gets nothing it cannot read):

- every input message (pointer, button, scroll, key) and the cursor: INPUT_BYTES;
- a frame update up to the largest class: the next of UPDATE_CLASSES;
- chat: a multiple of CHAT_MULTIPLE bytes.

Padding is zero bytes after the message's msgpack value, inside the sealed plaintext, so
both recordings hold the same bytes; `protocol.messages.decode` accepts up to
MAX_PADDING_BYTES of zeros after any message and nothing else. Larger updates, acks,
checkpoints and the rest go as they are (their size says little or is fixed).
"""

from __future__ import annotations

from protocol import messages

PADDING_CAPABILITY = "padding"
INPUT_BYTES = 48
UPDATE_CLASSES = (128, 256, 512, 1024)
CHAT_MULTIPLE = 64
MAX_PADDING_BYTES = messages.MAX_PADDING_BYTES
_INPUT = (*messages.INPUT_TYPES, messages.Cursor)


def padded_size(message: messages.Message, size: int) -> int:
    """The length `message`, encoded in `size` bytes, travels at."""
    if isinstance(message, _INPUT):
        return max(size, INPUT_BYTES)
    if isinstance(message, messages.FrameUpdate):
        return next((limit for limit in UPDATE_CLASSES if size <= limit), size)
    if isinstance(message, messages.Chat):
        return -(-size // CHAT_MULTIPLE) * CHAT_MULTIPLE
    return size


def pad(message: messages.Message, plaintext: bytes) -> bytes:
    """`plaintext` (the encoding of `message`) with its padding."""
    return plaintext + bytes(padded_size(message, len(plaintext)) - len(plaintext))


def padding_of(plaintext: bytes) -> int:
    """How many of a received message's bytes are padding (0 for larger messages, which
    are never padded)."""
    if len(plaintext) > UPDATE_CLASSES[-1]:
        return 0
    return len(plaintext) - messages.encoded_length(plaintext)
