// From the browser's input events to the protocol's Key, PointerButton and Scroll, as
// viewer/input_map.py does it for Tk: keys by the X keysym names protocol/keys.py knows
// (what Tk reports as event.keysym), or by the one printable character they produce.
// No DOM here: the page hands in the fields of its events.

import { isKnownKey } from './keys.js';
import { Button } from './messages.js';

// KeyboardEvent.key of named keys -> keysym (as Tk names them on X11).
const NAMED = Object.freeze({
  Enter: 'Return',
  Backspace: 'BackSpace',
  Tab: 'Tab',
  Escape: 'Escape',
  Delete: 'Delete',
  Insert: 'Insert',
  Home: 'Home',
  End: 'End',
  PageUp: 'Page_Up',
  PageDown: 'Page_Down',
  ArrowLeft: 'Left',
  ArrowRight: 'Right',
  ArrowUp: 'Up',
  ArrowDown: 'Down',
  ' ': 'space',
  ContextMenu: 'Menu',
  PrintScreen: 'Print',
  Pause: 'Pause',
  NumLock: 'Num_Lock',
  ScrollLock: 'Scroll_Lock',
  CapsLock: 'Caps_Lock',
  AltGraph: 'ISO_Level3_Shift',
  ...Object.fromEntries(Array.from({ length: 12 }, (_, n) => [`F${n + 1}`, `F${n + 1}`])),
});

// Modifiers by KeyboardEvent.code (left and right are different keysyms).
const BY_CODE = Object.freeze({
  ShiftLeft: 'Shift_L',
  ShiftRight: 'Shift_R',
  ControlLeft: 'Control_L',
  ControlRight: 'Control_R',
  AltLeft: 'Alt_L',
  AltRight: 'Alt_R',
  MetaLeft: 'Super_L',
  MetaRight: 'Super_R',
  OSLeft: 'Super_L',
  OSRight: 'Super_R',
  NumpadEnter: 'KP_Enter',
});

/** The protocol key for a keyboard event ({key, code}), or null when the host could not
 * type it (dead keys, IME composition, unknown keys). */
export function keyFor({ key, code = '' }) {
  if (key === 'AltGraph') return NAMED.AltGraph; // (its code is AltRight)
  const byCode = BY_CODE[code];
  if (byCode !== undefined) return byCode;
  const named = NAMED[key];
  if (named !== undefined) return named;
  if (typeof key === 'string' && [...key].length === 1 && isKnownKey(key)) return key;
  return null;
}

/** Remembers what each physical key sent on press, so its release sends the same key
 * (the character may differ on release after a modifier changed), and which keys are
 * down, to release them all when the page loses the keyboard. */
export class KeyTracker {
  #down = new Map();

  press(event) {
    const key = keyFor(event);
    if (key === null) return null;
    this.#down.set(event.code || key, key);
    return key;
  }

  release(event) {
    const id = event.code || keyFor(event);
    const key = this.#down.get(id) ?? keyFor(event);
    this.#down.delete(id);
    return key;
  }

  releaseAll() {
    const keys = [...this.#down.values()];
    this.#down.clear();
    return keys;
  }
}

const BUTTONS = Object.freeze({ 0: Button.LEFT, 1: Button.MIDDLE, 2: Button.RIGHT });

/** PointerEvent.button -> the protocol's button (null: back/forward, not sent). */
export function buttonFor(button) {
  return BUTTONS[button] ?? null;
}

// A wheel notch: 100 CSS pixels in Chromium (120 on some systems), 3 lines, 1 page.
export const PIXELS_PER_NOTCH = 100;
export const MAX_SCROLL_STEPS = 100;
const DOM_DELTA_LINE = 1;
const DOM_DELTA_PAGE = 2;
const LINES_PER_NOTCH = 3;

/** Wheel events to whole scroll steps in pynput's convention (dy > 0 up, dx > 0 right),
 * carrying what is left of a notch over to the next event (touchpads send small deltas). */
export class WheelSteps {
  #x = 0;
  #y = 0;

  /** [dx, dy] for a WheelEvent's {deltaX, deltaY, deltaMode}; [0, 0] until a notch is full. */
  add({ deltaX = 0, deltaY = 0, deltaMode = 0 }) {
    const unit = deltaMode === DOM_DELTA_LINE ? 1 / LINES_PER_NOTCH : deltaMode === DOM_DELTA_PAGE ? 1 : 1 / PIXELS_PER_NOTCH;
    this.#x += deltaX * unit;
    this.#y += deltaY * unit;
    const dx = Math.trunc(this.#x);
    const dy = Math.trunc(this.#y);
    this.#x -= dx;
    this.#y -= dy;
    const clamp = (v) => Math.max(-MAX_SCROLL_STEPS, Math.min(MAX_SCROLL_STEPS, v));
    // The browser's deltaY > 0 scrolls the page down: pynput's dy < 0.
    return [clamp(dx) || 0, clamp(-dy) || 0];
  }
}
