// A small synchronous zlib (RFC 1950) / DEFLATE (RFC 1951) decoder, after zlib's puff.c.
//
// Why not DecompressionStream: a palette tile's indices must be refused exactly as python's
// `zlib.decompressobj()` refuses them (viewer/framebuffer.py): bounded output, a whole
// stream with its checksum and nothing after it. Node's DecompressionStream ignores bytes
// after the end where Chromium's refuses them, and neither can stop at a size.

export class InflateError extends Error {}
/** The data ends before the stream does (python: `eof` stays False). */
export class InflateTruncated extends InflateError {}
/** The stream would inflate to more than allowed. */
export class InflateTooLong extends InflateError {}

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DISTANCE_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const MAX_BITS = 15;

/** A canonical Huffman code: counts per length and symbols in code order; `left` > 0 when
 * incomplete, < 0 when over-subscribed. */
function huffman(lengths) {
  const count = new Uint16Array(MAX_BITS + 1);
  for (const length of lengths) count[length]++;
  let left = 1;
  for (let length = 1; length <= MAX_BITS; length++) {
    left = left * 2 - count[length];
    if (left < 0) return { count, symbol: null, left };
  }
  const offsets = new Uint16Array(MAX_BITS + 1);
  for (let length = 1; length < MAX_BITS; length++) offsets[length + 1] = offsets[length] + count[length];
  const symbol = new Uint16Array(lengths.length);
  lengths.forEach((length, value) => {
    if (length) symbol[offsets[length]++] = value;
  });
  return { count, symbol, left };
}

const FIXED = (() => {
  const lengths = new Array(288).fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  return { literal: huffman(lengths), distance: huffman(new Array(30).fill(5)) };
})();

class Inflater {
  constructor(data, offset, maxOutput) {
    this.data = data;
    this.position = offset;
    this.bitBuffer = 0;
    this.bitCount = 0;
    this.maxOutput = maxOutput;
    this.output = new Uint8Array(Math.min(maxOutput, Math.max(1024, data.length * 4)));
    this.length = 0;
  }

  bits(count) {
    while (this.bitCount < count) {
      if (this.position >= this.data.length) throw new InflateTruncated('the data ends inside the stream');
      this.bitBuffer |= this.data[this.position++] << this.bitCount;
      this.bitCount += 8;
    }
    const value = this.bitBuffer & ((1 << count) - 1);
    this.bitBuffer >>>= count;
    this.bitCount -= count;
    return value;
  }

  decode(code) {
    let value = 0;
    let first = 0;
    let index = 0;
    for (let length = 1; length <= MAX_BITS; length++) {
      value |= this.bits(1);
      const count = code.count[length];
      if (value - count < first) return code.symbol[index + (value - first)];
      index += count;
      first = (first + count) << 1;
      value <<= 1;
    }
    throw new InflateError('a code is not in the Huffman table');
  }

  put(byte) {
    if (this.length >= this.output.length) this.grow();
    this.output[this.length++] = byte;
  }

  grow() {
    if (this.length >= this.maxOutput) throw new InflateTooLong('the stream inflates beyond the limit');
    const bigger = new Uint8Array(Math.min(this.maxOutput, this.output.length * 2));
    bigger.set(this.output.subarray(0, this.length));
    this.output = bigger;
  }

  stored() {
    this.bitBuffer = 0;
    this.bitCount = 0;
    if (this.position + 4 > this.data.length) throw new InflateTruncated('the data ends inside the stream');
    const d = this.data;
    const p = this.position;
    const length = d[p] | (d[p + 1] << 8);
    if ((d[p + 2] | (d[p + 3] << 8)) !== (~length & 0xffff)) {
      throw new InflateError('a stored block has a wrong length check');
    }
    this.position += 4;
    for (let i = 0; i < length; i++) {
      if (this.position >= d.length) throw new InflateTruncated('the data ends inside the stream');
      this.put(d[this.position++]);
    }
  }

  codes(literal, distance) {
    for (;;) {
      let symbol = this.decode(literal);
      if (symbol < 256) {
        this.put(symbol);
        continue;
      }
      if (symbol === 256) return;
      symbol -= 257;
      if (symbol >= 29) throw new InflateError('an invalid length code');
      const length = LENGTH_BASE[symbol] + this.bits(LENGTH_EXTRA[symbol]);
      const code = this.decode(distance);
      if (code >= 30) throw new InflateError('an invalid distance code');
      const back = DISTANCE_BASE[code] + this.bits(DISTANCE_EXTRA[code]);
      if (back > this.length) throw new InflateError('a distance too far back');
      for (let i = 0; i < length; i++) this.put(this.output[this.length - back]);
    }
  }

  dynamic() {
    const literals = this.bits(5) + 257;
    const distances = this.bits(5) + 1;
    const codeLengths = this.bits(4) + 4;
    if (literals > 286 || distances > 30) throw new InflateError('too many length or distance codes');
    const lengths = new Array(19).fill(0);
    for (let i = 0; i < codeLengths; i++) lengths[CODE_LENGTH_ORDER[i]] = this.bits(3);
    const lengthCode = huffman(lengths);
    if (lengthCode.left !== 0) throw new InflateError('an incomplete code-length code');
    const all = [];
    while (all.length < literals + distances) {
      const symbol = this.decode(lengthCode);
      if (symbol < 16) {
        all.push(symbol);
        continue;
      }
      let repeat;
      let value = 0;
      if (symbol === 16) {
        if (!all.length) throw new InflateError('a repeat with no length before it');
        value = all[all.length - 1];
        repeat = 3 + this.bits(2);
      } else if (symbol === 17) repeat = 3 + this.bits(3);
      else repeat = 11 + this.bits(7);
      if (all.length + repeat > literals + distances) throw new InflateError('too many lengths');
      for (let i = 0; i < repeat; i++) all.push(value);
    }
    if (all[256] === 0) throw new InflateError('no end-of-block code');
    const literalLengths = all.slice(0, literals);
    const distanceLengths = all.slice(literals);
    const literal = huffman(literalLengths);
    // Incomplete only as zlib allows: a single code of one bit (or no distance code at all).
    const single = (lengthsOf) => lengthsOf.every((l) => l <= 1);
    if (literal.left < 0 || (literal.left > 0 && !single(literalLengths))) {
      throw new InflateError('an incomplete literal/length code');
    }
    const distance = huffman(distanceLengths);
    if (distance.left < 0 || (distance.left > 0 && !single(distanceLengths))) {
      throw new InflateError('an incomplete distance code');
    }
    this.codes(literal, distance);
  }

  run() {
    let last = 0;
    while (!last) {
      last = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) this.codes(FIXED.literal, FIXED.distance);
      else if (type === 2) this.dynamic();
      else throw new InflateError('an invalid block type');
    }
    this.bitBuffer = 0;
    this.bitCount = 0;
    return this.output.subarray(0, this.length);
  }
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(bytes.length, i + 3800);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Inflate one zlib stream at the start of `data`: {output, end} (end: the offset after its
 * checksum). Raises InflateTruncated, InflateTooLong (more than `maxOutput` bytes) or
 * InflateError. */
export function inflateZlib(data, maxOutput) {
  if (data.length < 2) throw new InflateTruncated('the data ends inside the stream');
  const cmf = data[0];
  const flags = data[1];
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flags) % 31 !== 0) {
    throw new InflateError('an incorrect header');
  }
  if (flags & 0x20) throw new InflateError('a preset dictionary is needed');
  const inflater = new Inflater(data, 2, maxOutput);
  const output = inflater.run();
  const at = inflater.position;
  if (at + 4 > data.length) throw new InflateTruncated('the data ends inside the checksum');
  const expected = ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) >>> 0;
  if (expected !== adler32(output)) throw new InflateError('an incorrect data check');
  return { output, end: at + 4 };
}

/** Inflate a raw DEFLATE stream (no header, no checksum). */
export function inflateRaw(data, maxOutput) {
  const inflater = new Inflater(data, 0, maxOutput);
  const output = inflater.run();
  return { output, end: inflater.position };
}
