// The JSON forms of make_vectors.py (and of the live test's commands) as JS values and back:
// bytes {"$bytes": hex}, big whole numbers {"$int": digits}, records {"$type": name, ...}.

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import * as messages from '../../relay/browser/static/js/messages.js';
import * as recording from '../../relay/browser/static/js/recording.js';
import * as control from '../../relay/browser/static/js/control.js';

const TYPES = { ...messages, ...recording };

/** The record types of relay control, whose names overlap the messages' (Checkpoint, End). */
export const CONTROL_TYPES = { ...control, Error: control.RelayError };

/** A JSON value of make_vectors.py as the JS value (records built and so checked). */
export function fromJson(value, types = TYPES) {
  if (Array.isArray(value)) return value.map((entry) => fromJson(entry, types));
  if (value === null || typeof value !== 'object') return value;
  if ('$bytes' in value) return fromHex(value.$bytes);
  if ('$int' in value) return BigInt(value.$int);
  const fields = {};
  for (const [name, field] of Object.entries(value)) if (name !== '$type') fields[name] = fromJson(field, types);
  if ('$type' in value) return new types[value.$type](fields);
  return fields;
}

/** A JS record as the JSON form make_vectors.py writes (for deep comparison). */
export function toJson(value) {
  if (value instanceof Uint8Array) return { $bytes: toHex(value) };
  if (typeof value === 'bigint') return { $int: String(value) };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out = { $type: value.constructor === control.RelayError ? 'Error' : value.constructor.name };
    for (const [name] of value.constructor.FIELDS) out[name] = toJson(value[name]);
    return out;
  }
  return value;
}

