// Declarative field rules for records and messages, as protocol/schema.py has them.
//
// A record type is a class with a static FIELDS list of [name, rule] (or [name, rule,
// default]); building one checks every field as strictly as decoding does, then the class's
// own `validate()`. Instances are frozen. Field names are those of protocol/ (snake_case):
// they are the wire schema, the same on both sides.

import { fromHex, toHex } from './bytes.js';
import { ProtocolError } from './errors.js';
import { MsgFloat } from './msgpack.js';

/** What python's `type(value).__name__` says for a decoded value. */
export function pythonTypeName(value) {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (value instanceof MsgFloat) return 'float';
  if (typeof value === 'string') return 'str';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Map) return 'dict';
  if (value instanceof Record) return value.constructor.name;
  return typeof value;
}

function wrong(name, expected, value) {
  return new ProtocolError(`field '${name}' must be ${expected}, not ${pythonTypeName(value)}`);
}

function isWhole(value) {
  return typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value));
}

/** Python's repr of a number in a message ("between 0 and 16383"; floats keep ".0"). */
function show(value, float = false) {
  if (float && Number.isInteger(value)) return `${value}.0`;
  return String(value);
}

/** The number of characters as python counts them (code points). */
export function characterCount(text) {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

export class Rule {
  fromWire(_name, _value) {
    throw new Error('not implemented');
  }
  toWire(value) {
    return value;
  }
  /** Validate a field value as built, as strictly as fromWire. */
  check(name, value) {
    this.fromWire(name, this.toWire(value));
  }
}

export class Int extends Rule {
  constructor(minimum, maximum) {
    super();
    this.minimum = BigInt(minimum);
    this.maximum = BigInt(maximum);
    this.text = `between ${minimum} and ${maximum}`;
  }
  fromWire(name, value) {
    if (!isWhole(value)) throw wrong(name, 'a whole number', value);
    const big = BigInt(value);
    if (big < this.minimum || big > this.maximum) {
      throw new ProtocolError(`field '${name}' must be ${this.text}`);
    }
    return Number.isSafeInteger(Number(big)) && BigInt(Number(big)) === big ? Number(big) : big;
  }
}

export class Float extends Rule {
  constructor(minimum, maximum) {
    super();
    this.minimum = minimum;
    this.maximum = maximum;
  }
  fromWire(name, value) {
    let number;
    if (value instanceof MsgFloat) number = value.value;
    else if (isWhole(value)) number = Number(value);
    else throw wrong(name, 'a number', value);
    if (!Number.isFinite(number) || number < this.minimum || number > this.maximum) {
      throw new ProtocolError(
        `field '${name}' must be a finite number between ${show(this.minimum, true)} and ${show(this.maximum, true)}`,
      );
    }
    return number;
  }
  toWire(value) {
    return typeof value === 'number' ? new MsgFloat(value) : value;
  }
}

export class Flag extends Rule {
  fromWire(name, value) {
    if (typeof value !== 'boolean') throw wrong(name, 'true or false', value);
    return value;
  }
}

export class Text extends Rule {
  /** `pattern`: python regex syntax shared by both sides, matched whole (fullmatch). */
  constructor(maxChars, pattern = null) {
    super();
    this.maxChars = maxChars;
    this.pattern = pattern === null ? null : new RegExp(`^(?:${pattern})$`, 'u');
  }
  fromWire(name, value) {
    if (typeof value !== 'string') throw wrong(name, 'text', value);
    if (characterCount(value) > this.maxChars) {
      throw new ProtocolError(`field '${name}' is longer than ${this.maxChars} characters`);
    }
    if (this.pattern !== null && !this.pattern.test(value)) {
      throw new ProtocolError(`field '${name}' is not in the expected form`);
    }
    return value;
  }
}

export class Blob extends Rule {
  constructor(maxBytes, exactBytes = null) {
    super();
    this.maxBytes = maxBytes;
    this.exactBytes = exactBytes;
  }
  fromWire(name, value) {
    if (!(value instanceof Uint8Array)) throw wrong(name, 'binary data', value);
    if (this.exactBytes !== null && value.length !== this.exactBytes) {
      throw new ProtocolError(`field '${name}' must be exactly ${this.exactBytes} bytes`);
    }
    if (value.length > this.maxBytes) {
      throw new ProtocolError(`field '${name}' is larger than ${this.maxBytes} bytes`);
    }
    return value;
  }
}

/** Bytes that travel as lowercase hex text (relay control messages, JSON). */
export class HexDigest extends Rule {
  constructor(exactBytes) {
    super();
    this.exactBytes = exactBytes;
    this.pattern = new RegExp(`^[0-9a-f]{${2 * exactBytes}}$`);
  }
  fromWire(name, value) {
    if (typeof value !== 'string' || !this.pattern.test(value)) {
      throw new ProtocolError(`field '${name}' must be ${2 * this.exactBytes} lowercase hex digits`);
    }
    return fromHex(value);
  }
  toWire(value) {
    return value instanceof Uint8Array ? toHex(value) : value;
  }
}

/** One of the values of an enumeration given as a frozen object {NAME: value}. */
export class Choice extends Rule {
  constructor(enumeration) {
    super();
    this.values = Object.values(enumeration);
  }
  fromWire(name, value) {
    if (typeof value === 'boolean' || !(typeof value === 'string' || isWhole(value))) {
      throw wrong(name, 'one of the known values', value);
    }
    if (!this.values.includes(value)) {
      throw new ProtocolError(`field '${name}' must be one of: ${this.values.join(', ')}`);
    }
    return value;
  }
}

export class ListOf extends Rule {
  constructor(item, maxItems) {
    super();
    this.item = item;
    this.maxItems = maxItems;
  }
  fromWire(name, value) {
    if (!Array.isArray(value)) throw wrong(name, 'a list', value);
    if (value.length > this.maxItems) {
      throw new ProtocolError(`field '${name}' has more than ${this.maxItems} entries`);
    }
    return Object.freeze(value.map((entry, index) => this.item.fromWire(`${name}[${index}]`, entry)));
  }
  toWire(value) {
    return value.map((entry) => this.item.toWire(entry));
  }
  check(name, value) {
    if (!Array.isArray(value)) throw wrong(name, 'a list', value);
    if (value.length > this.maxItems) {
      throw new ProtocolError(`field '${name}' has more than ${this.maxItems} entries`);
    }
    value.forEach((entry, index) => this.item.check(`${name}[${index}]`, entry));
  }
}

/** A nested record that travels as a positional list. */
export class Nested extends Rule {
  constructor(recordType) {
    super();
    this.recordType = recordType;
  }
  fromWire(name, value) {
    if (!Array.isArray(value)) throw wrong(name, 'a list of fields', value);
    return fromValues(this.recordType, value, name);
  }
  toWire(value) {
    return toValues(value);
  }
  check(name, value) {
    // A nested record checked itself when it was built.
    if (!(value instanceof this.recordType) || value.constructor !== this.recordType) {
      throw wrong(name, `a ${this.recordType.name}`, value);
    }
  }
}

/** Base of every record and message: built from an object of fields, checked, frozen. */
export class Record {
  static FIELDS = [];

  constructor(fields = {}) {
    for (const [name, rule, ...fallback] of new.target.FIELDS) {
      let value = fields[name];
      if (value === undefined) {
        if (!fallback.length) throw new TypeError(`${new.target.name} needs the field '${name}'`);
        value = fallback[0];
      }
      if (Array.isArray(value)) value = Object.freeze([...value]);
      rule.check(name, value);
      this[name] = value;
    }
    this.validate();
    Object.freeze(this);
  }

  /** Checks across fields; a subclass overrides it (and calls super). */
  validate() {}
}

export function toValues(instance) {
  return instance.constructor.FIELDS.map(([name, rule]) => rule.toWire(instance[name]));
}

export function fromValues(recordType, values, where = '') {
  const fields = recordType.FIELDS;
  const label = where || recordType.name;
  if (values.length !== fields.length) {
    throw new ProtocolError(`${label} must have ${fields.length} fields, not ${values.length}`);
  }
  const converted = {};
  fields.forEach(([name, rule], index) => {
    converted[name] = rule.fromWire(name, values[index]);
  });
  return new recordType(converted);
}
