// The page's BrowserSession in node, driven by a python test (test_js_session_live.py) that
// plays the relay and the python host: the link to the relay is this process's stdin and
// stdout, one JSON object per line.
//
//   node session_driver.mjs CODE RECORDING_PATH [CHECKPOINT_SECONDS]
//
// Out (to the test):  {"ev": "connect"}                  the session asks for a new link
//                     {"ev": "text", "text"}              a control frame on the link
//                     {"ev": "binary", "hex"}             a binary frame on the link
//                     {"ev": "close"}                     the session closed its link
//                     {"ev": "status", "phase", "consent"}
//                     {"ev": "applied", "seq", "rgbSha256"}
//                     {"ev": "chat", "text"}
//                     {"ev": "outcome", "ending", "reason"}
// In (from the test): {"cmd": "accept"} / {"cmd": "refuse"}  answer the pending connect
//                     {"cmd": "text", "text"} / {"cmd": "binary", "hex"}  a frame arrives
//                     {"cmd": "drop"}                      the link breaks (ConnectionLost)
//                     {"cmd": "send", "message"}           the page sends a message
//                     {"cmd": "checkpoint"} / {"cmd": "end", "reason"}

import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { BrowserSession, FrameApplied, StatusChanged, ChatReceived } from '../../relay/browser/static/js/browser_session.js';
import { parseCode } from '../../relay/browser/static/js/codes.js';
import { ConnectionLost, RelayUnreachable } from '../../relay/browser/static/js/errors.js';
import { SessionEvidence } from '../../relay/browser/static/js/evidence.js';
import { Framebuffer } from '../../relay/browser/static/js/framebuffer.js';
import * as control from '../../relay/browser/static/js/control.js';
import { RelayError } from '../../relay/browser/static/js/control.js';
import { errorFor } from '../../relay/browser/static/js/relay_link.js';
import { sha256 } from '../../relay/browser/static/vendor/noble-hashes/sha2.js';
import { fromJson } from './vectors-json.mjs';

const [code, recordingPath, checkpointSeconds = 'Infinity'] = process.argv.slice(2);

function say(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** A link whose other end is the python test. */
class TestLink {
  #frames = [];
  #waiting = [];
  closed = null;

  get isOpen() {
    return this.closed === null;
  }

  deliver(item) {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(item);
    else this.#frames.push(item);
  }

  drop(reason) {
    if (this.closed !== null) return;
    this.closed = reason;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new ConnectionLost(reason));
  }

  sendControl(message) {
    if (this.closed !== null) throw new ConnectionLost(this.closed);
    say({ ev: 'text', text: control.encode(message) });
  }

  sendBinary(data) {
    if (this.closed !== null) throw new ConnectionLost(this.closed);
    say({ ev: 'binary', hex: toHex(data) });
  }

  async receive() {
    let item;
    if (this.#frames.length) item = this.#frames.shift();
    else if (this.closed !== null) throw new ConnectionLost(this.closed);
    else item = await new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
    if (item instanceof Uint8Array) return item;
    const message = control.decode(item);
    if (message instanceof RelayError) throw errorFor(message);
    return message;
  }

  close() {
    if (this.closed === null) say({ ev: 'close' });
    this.drop('closed by the page');
  }
}

let link = null;
let pendingConnect = null;

function connect() {
  say({ ev: 'connect' });
  return new Promise((resolve, reject) => {
    pendingConnect = { resolve, reject };
  });
}

function fileSink(name) {
  const file = openSync(recordingPath, 'w');
  let open = true;
  return {
    name,
    write(bytes) {
      writeSync(file, bytes);
    },
    async sync() {
      fsyncSync(file);
    },
    async close() {
      if (open) {
        fsyncSync(file);
        closeSync(file);
        open = false;
      }
    },
  };
}

function screenHash(screen) {
  const rgb = new Uint8Array(screen.width * screen.height * 3);
  for (let i = 0, j = 0; i < screen.rgba.length; i += 4, j += 3) {
    rgb[j] = screen.rgba[i];
    rgb[j + 1] = screen.rgba[i + 1];
    rgb[j + 2] = screen.rgba[i + 2];
  }
  return toHex(sha256(rgb));
}

const framebuffer = new Framebuffer();
const session = new BrowserSession({
  code: parseCode(code),
  connect,
  framebuffer,
  evidence: new SessionEvidence({ relay: 'wss://relay.test', openSink: fileSink }),
  checkpointIntervalSeconds: Number(checkpointSeconds),
  sleep: () => Promise.resolve(), // the test answers each connect at once: no back-off wait
  onEvent(event) {
    if (event instanceof StatusChanged) {
      say({ ev: 'status', phase: event.status.phase, consent: event.status.consent });
    } else if (event instanceof FrameApplied) {
      say({ ev: 'applied', seq: Number(event.stat.seq), rgbSha256: screenHash(framebuffer) });
    } else if (event instanceof ChatReceived) {
      say({ ev: 'chat', text: event.text });
    }
  },
});

const COMMANDS = {
  accept() {
    link = new TestLink();
    pendingConnect.resolve(link);
  },
  refuse() {
    pendingConnect.reject(new RelayUnreachable('refused by the test'));
  },
  text({ text }) {
    link.deliver(text);
  },
  binary({ hex }) {
    link.deliver(fromHex(hex));
  },
  drop() {
    link.drop('the test broke the connection');
  },
  async send({ message }) {
    await session.send(fromJson(message));
  },
  async checkpoint() {
    await session.checkpoint();
  },
  end({ reason }) {
    session.requestEnd(reason);
  },
};

const lines = createInterface({ input: process.stdin });
(async () => {
  for await (const line of lines) {
    const command = JSON.parse(line);
    await COMMANDS[command.cmd](command);
  }
})();

const outcome = await session.run();
say({ ev: 'outcome', ending: outcome.ending, reason: outcome.reason });
process.exit(0);
