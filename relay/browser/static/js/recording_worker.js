// Browser only, a dedicated worker: the evidence recording's file in the origin-private file
// system (OPFS), written through a FileSystemSyncAccessHandle as the session goes, so that a
// closed tab or a crashed browser keeps everything written up to that moment. The page
// (recording_store.js) posts the bytes of each record, in order; this worker appends them at
// once, flushes at checkpoints and at the end, reads a snapshot for a download at any time,
// and lists, reads and deletes the recordings kept in this browser.
//
// Requests: {op, id, ...}; answers: {id, ok: true, ...} or {id, ok: false, message}.
// A write has no answer; the first failed write is posted as {op: 'failed', message}.

const FOLDER = 'recordings';
let handle = null;
let position = 0;
let failed = false;

async function folder() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(FOLDER, { create: true });
}

function describe(error) {
  if (error && error.name === 'QuotaExceededError') return 'the recording could not be written: the browser storage is full';
  return 'the recording could not be written in this browser';
}

const OPS = {
  async open({ name }) {
    const dir = await folder();
    const file = await dir.getFileHandle(name, { create: true });
    handle = await file.createSyncAccessHandle();
    handle.truncate(0);
    position = 0;
    failed = false;
    return {};
  },
  write({ data }) {
    if (failed || handle === null) return;
    try {
      const bytes = new Uint8Array(data);
      let done = 0;
      while (done < bytes.length) done += handle.write(bytes.subarray(done), { at: position + done });
      position += bytes.length;
    } catch (error) {
      failed = true;
      postMessage({ op: 'failed', message: describe(error) });
    }
  },
  flush() {
    if (handle !== null && !failed) handle.flush();
    return { size: position };
  },
  snapshot() {
    if (handle === null) throw new Error('no recording is open');
    handle.flush();
    const bytes = new Uint8Array(position);
    handle.read(bytes, { at: 0 });
    return { data: bytes.buffer, transfer: [bytes.buffer] };
  },
  close() {
    if (handle !== null) {
      if (!failed) handle.flush();
      handle.close();
      handle = null;
    }
    return { failed };
  },
  async list() {
    const dir = await folder();
    const files = [];
    for await (const [name, entry] of dir.entries()) {
      if (entry.kind !== 'file') continue;
      const file = await entry.getFile();
      files.push({ name, size: file.size, modified: file.lastModified });
    }
    files.sort((a, b) => b.modified - a.modified);
    return { files };
  },
  async read({ name }) {
    const dir = await folder();
    const file = await (await dir.getFileHandle(name)).getFile();
    const data = await file.arrayBuffer();
    return { data, transfer: [data] };
  },
  async remove({ name }) {
    const dir = await folder();
    await dir.removeEntry(name);
    return {};
  },
};

// One request at a time, in order: writes must land in the order they were posted.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const request = event.data;
  queue = queue.then(async () => {
    if (request.op === 'write') {
      OPS.write(request);
      return;
    }
    try {
      const { transfer = [], ...answer } = (await OPS[request.op](request)) ?? {};
      postMessage({ id: request.id, ok: true, ...answer }, transfer);
    } catch (error) {
      postMessage({ id: request.id, ok: false, message: describe(error) });
    }
  });
};
