// Browser only: the page's side of the recording worker (recording_worker.js). It is the
// sink evidence.js writes the recording into (write, sync, close, onFailure), and it lists,
// reads and deletes the recordings this browser keeps, for downloads.
//
//     const store = new RecordingStore();
//     evidence: new SessionEvidence({..., openSink: (name) => store.open(name)})

export class RecordingStore {
  #worker;
  #next = 1;
  #answers = new Map();
  #onFailure = () => {};
  failure = null;

  constructor(url = new URL('./recording_worker.js', import.meta.url)) {
    this.#worker = new Worker(url, { type: 'module' });
    this.#worker.onmessage = (event) => this.#answer(event.data);
    this.#worker.onerror = () => this.#failed('the recording worker stopped');
  }

  #answer(message) {
    if (message.op === 'failed') {
      this.#failed(message.message);
      return;
    }
    const waiter = this.#answers.get(message.id);
    if (waiter === undefined) return;
    this.#answers.delete(message.id);
    if (message.ok) waiter.resolve(message);
    else waiter.reject(new Error(message.message));
  }

  #failed(message) {
    if (this.failure !== null) return;
    this.failure = message;
    this.#onFailure(message);
  }

  #ask(op, fields = {}, transfer = []) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#answers.set(id, { resolve, reject });
      this.#worker.postMessage({ op, id, ...fields }, transfer);
    });
  }

  /** Create the file `name` (a new session's recording) and return the sink at once: the
   * worker takes requests in order, so the writes that follow land in the new file. A file
   * that cannot be created fails the recording (onFailure). */
  open(name) {
    this.name = name;
    this.#ask('open', { name }).catch((error) => this.#failed(error.message));
    return this;
  }

  // -- the sink evidence.js writes to --

  write(bytes) {
    if (this.failure !== null) throw new Error(this.failure);
    const copy = bytes.slice(); // the worker takes it over; the writer keeps its own
    this.#worker.postMessage({ op: 'write', data: copy.buffer }, [copy.buffer]);
  }

  onFailure(callback) {
    this.#onFailure = callback;
    if (this.failure !== null) callback(this.failure);
  }

  async sync() {
    await this.#ask('flush');
  }

  async close() {
    await this.#ask('close');
  }

  // -- downloads --

  /** The recording so far (the open one, flushed first) as bytes. */
  async snapshot() {
    return new Uint8Array((await this.#ask('snapshot')).data);
  }

  async list() {
    return (await this.#ask('list')).files;
  }

  async read(name) {
    return new Uint8Array((await this.#ask('read', { name })).data);
  }

  async remove(name) {
    await this.#ask('remove', { name });
  }
}

/** Offer bytes as a file download (an <a download> clicked by the page itself). */
export function offerDownload(bytes, name, document = globalThis.document) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
