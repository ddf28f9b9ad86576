// The evidence recording's writer, as protocol/recording_writer.py has it: a session's
// events in, the bytes of its file out, in order (sans-I/O: the page owns the file, in the
// origin-private file system). Call headerBytes() once, then one method per event; write
// every returned byte string to the file, in order. Record each outgoing message just
// before sealing it, each received one before acting on it.

import { concatBytes, u32be } from './bytes.js';
import { ProtocolError } from './errors.js';
import { Role } from './handshake.js';
import { Checkpoint, MAX_MESSAGE_BYTES, MAX_TIMESTAMP, encode } from './messages.js';
import {
  Chains,
  End,
  Gap,
  InputOutcome,
  MAGIC,
  RecordKind,
  checkTrafficCheckpoint,
  crc32,
  encodeHeaderBlock,
  encodeVarint,
  incoming,
  milliseconds,
  outgoing,
  packPayload,
  zigzag,
} from './recording.js';

export const WriterState = Object.freeze({ NEW: 'new', RECORDING: 'recording', ENDED: 'ended' });

export class RecordingWriter {
  #chains;
  #headerBlock;
  #lastMilliseconds;

  constructor(header) {
    this.header = header;
    this.#headerBlock = encodeHeaderBlock(header);
    this.#chains = new Chains(header, this.#headerBlock);
    this.#lastMilliseconds = milliseconds(header.start_time);
    this.outgoing = outgoing(header.side);
    this.incoming = incoming(header.side);
    this.state = WriterState.NEW;
  }

  headerBytes() {
    this.#expect(WriterState.NEW, 'start');
    this.state = WriterState.RECORDING;
    return concatBytes(MAGIC, this.#headerBlock);
  }

  /** Record a message this side is about to seal and send. */
  sent(time, plaintext) {
    return concatBytes(...this.sentPieces(time, plaintext));
  }

  /** Record a message from the peer (Received.plaintext) before acting on it. */
  received(time, plaintext) {
    return concatBytes(...this.receivedPieces(time, plaintext));
  }

  /** `sent` as [framing, payload, CRC], to write without copying a large payload. */
  sentPieces(time, plaintext) {
    return this.#message(this.outgoing, time, plaintext);
  }

  receivedPieces(time, plaintext) {
    return this.#message(this.incoming, time, plaintext);
  }

  /** Host only: the input in viewer->host message `messageIndex` was applied (or not). */
  inputOutcome(time, messageIndex, applied, reason = '') {
    if (this.header.side !== Role.HOST) throw new ProtocolError('only the host applies input');
    if (messageIndex >= this.#chains.messages(this.incoming)) {
      throw new ProtocolError('an input outcome must follow the input it concerns');
    }
    return this.#append(
      RecordKind.INPUT_OUTCOME,
      time,
      packPayload(new InputOutcome({ message_index: messageIndex, applied, reason })),
    );
  }

  /** A CHECKPOINT record, and the Checkpoint message to send right after:
   * {data, message, plaintext, fileRecords, fileHead}. Seal exactly `plaintext` next, and
   * report (message.records, message.head, fileRecords, fileHead) to the relay. */
  checkpoint(time) {
    const record = this.#append(RecordKind.CHECKPOINT, time, packPayload(this.#chains.heads()));
    const [records, head] = this.#chains.traffic.get(this.outgoing);
    const message = new Checkpoint({ records, head });
    const plaintext = encode(message);
    const data = concatBytes(record, this.sent(time, plaintext));
    return { data, message, plaintext, fileRecords: this.#chains.fileRecords, fileHead: this.#chains.fileHead };
  }

  gap(time, reason) {
    return this.#append(RecordKind.GAP, time, packPayload(new Gap({ reason })));
  }

  /** The final CHECKPOINT record and the END record; nothing may follow. */
  end(time, reason) {
    const checkpoint = this.#append(RecordKind.CHECKPOINT, time, packPayload(this.#chains.heads()));
    const last = this.#append(RecordKind.END, time, packPayload(new End({ reason })));
    this.state = WriterState.ENDED;
    return concatBytes(checkpoint, last);
  }

  heads() {
    return this.#chains.heads();
  }

  /** How many messages of `direction` are recorded (the next one's index). */
  messages(direction) {
    return this.#chains.messages(direction);
  }

  #expect(state, event) {
    if (this.state !== state) throw new ProtocolError(`cannot ${event} a recording in state '${this.state}'`);
  }

  #message(direction, time, plaintext) {
    if (plaintext.length > MAX_MESSAGE_BYTES) {
      throw new ProtocolError(`message is larger than ${MAX_MESSAGE_BYTES} bytes`);
    }
    this.#expect(WriterState.RECORDING, 'record a message in');
    if (!(time >= 0 && time <= MAX_TIMESTAMP)) throw new RangeError("a record's time is seconds since the epoch");
    checkTrafficCheckpoint(this.#chains, direction, plaintext);
    const now = milliseconds(time);
    const body = concatBytes(
      Uint8Array.of(direction),
      encodeVarint(this.#chains.fileRecords + 1),
      encodeVarint(zigzag(now - this.#lastMilliseconds)),
    );
    const framing = concatBytes(encodeVarint(body.length + plaintext.length), body);
    const checksum = u32be(crc32(framing, plaintext));
    this.#chains.extendMessage(direction, framing, plaintext, checksum);
    this.#lastMilliseconds = now;
    return [framing, plaintext, checksum];
  }

  #append(kind, time, payload) {
    this.#expect(WriterState.RECORDING, `add a ${kindName(kind)} record to`);
    const now = milliseconds(time);
    const body = concatBytes(
      Uint8Array.of(kind),
      encodeVarint(this.#chains.fileRecords + 1),
      encodeVarint(zigzag(now - this.#lastMilliseconds)),
    );
    const framed = concatBytes(encodeVarint(body.length + payload.length), body, payload);
    const record = concatBytes(framed, u32be(crc32(framed)));
    this.#chains.extendLocal(record);
    this.#lastMilliseconds = now;
    return record;
  }
}

function kindName(kind) {
  return Object.keys(RecordKind).find((name) => RecordKind[name] === kind).toLowerCase();
}
