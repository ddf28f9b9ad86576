// Browser only: the customer's screen on a canvas, and the technician's mouse, wheel and
// keyboard on it turned into PointerMove, PointerButton, Scroll and Key messages (keymap.js).
// The canvas holds the remote pixels one to one (its width and height are the remote
// screen's); "fit" scales it to the window with CSS, "1:1" shows it unscaled with scroll
// bars. Input is sent only while `controlling` is true (the customer granted control and
// the session is active); the session checks that again before sending.
//
// Full screen takes the keyboard too (the Keyboard Lock API, where the browser has it), so
// Tab, Alt+Tab, Ctrl+W and Escape go to the customer's computer; holding Escape leaves.

import { KeyTracker, WheelSteps, buttonFor } from './keymap.js';
import { Key, PointerButton, PointerMove, Scroll } from './messages.js';

export const Mode = Object.freeze({ FIT: 'fit', ACTUAL: 'actual' });

export class RemoteScreen {
  #container;
  #canvas;
  #context;
  #cursor;
  #send;
  #keys = new KeyTracker();
  #wheel = new WheelSteps();
  #pendingMove = null;
  #moveScheduled = false;
  mode = Mode.FIT;
  controlling = false;

  /** `send(message)`: hands an input message to the session. */
  constructor({ container, canvas, cursor }, send) {
    this.#container = container;
    this.#canvas = canvas;
    this.#context = canvas.getContext('2d', { alpha: false, willReadFrequently: false });
    this.#cursor = cursor;
    this.#send = send;
    this.#listen();
    new ResizeObserver(() => this.layout()).observe(container);
  }

  get width() {
    return this.#canvas.width;
  }

  get height() {
    return this.#canvas.height;
  }

  /** Before a new session's first picture: nothing shown. */
  clear() {
    this.#canvas.hidden = true;
    this.#canvas.width = 1;
    this.#canvas.height = 1;
    this.#cursor.hidden = true;
  }

  /** Paint the regions of `framebuffer` that changed (the canvas follows its size). */
  paint(framebuffer, regions) {
    this.#canvas.hidden = false;
    if (framebuffer.width !== this.#canvas.width || framebuffer.height !== this.#canvas.height) {
      this.#canvas.width = framebuffer.width;
      this.#canvas.height = framebuffer.height;
      this.layout();
      regions = [{ x: 0, y: 0, width: framebuffer.width, height: framebuffer.height }];
    }
    for (const region of regions) {
      if (region.width > 0 && region.height > 0) {
        this.#context.putImageData(framebuffer.imageData(region), region.x, region.y);
      }
    }
  }

  setMode(mode) {
    this.mode = mode;
    this.#container.classList.toggle('fit', mode === Mode.FIT);
    this.#container.classList.toggle('actual', mode === Mode.ACTUAL);
    this.layout();
  }

  layout() {
    const canvas = this.#canvas;
    if (this.mode === Mode.ACTUAL) {
      canvas.style.width = `${canvas.width}px`;
      canvas.style.height = `${canvas.height}px`;
      return;
    }
    const room = this.#container.getBoundingClientRect();
    const scale = Math.max(0.05, Math.min(room.width / canvas.width, room.height / canvas.height));
    canvas.style.width = `${Math.max(1, Math.floor(canvas.width * scale))}px`;
    canvas.style.height = `${Math.max(1, Math.floor(canvas.height * scale))}px`;
  }

  /** The remote pixel under a point of the page, clamped to the remote screen. */
  toRemote(clientX, clientY) {
    const box = this.#canvas.getBoundingClientRect();
    const x = Math.floor(((clientX - box.left) * this.#canvas.width) / Math.max(1, box.width));
    const y = Math.floor(((clientY - box.top) * this.#canvas.height) / Math.max(1, box.height));
    return [Math.min(Math.max(x, 0), this.#canvas.width - 1), Math.min(Math.max(y, 0), this.#canvas.height - 1)];
  }

  showCursor(x, y, visible) {
    const box = this.#canvas.getBoundingClientRect();
    const outer = this.#container.getBoundingClientRect();
    const left = box.left - outer.left + this.#container.scrollLeft + (x * box.width) / this.#canvas.width;
    const top = box.top - outer.top + this.#container.scrollTop + (y * box.height) / this.#canvas.height;
    this.#cursor.style.left = `${left}px`;
    this.#cursor.style.top = `${top}px`;
    this.#cursor.hidden = !visible;
  }

  setControlling(controlling) {
    if (this.controlling && !controlling) this.releaseAll();
    this.controlling = controlling;
  }

  /** Releases for every key still held (focus lost, control taken back). */
  releaseAll() {
    for (const key of this.#keys.releaseAll()) this.#send(new Key({ key, pressed: false }));
  }

  /** Full screen for the screen area, with the keyboard locked to the page where possible.
   * Resolves to true when the keyboard is locked. */
  async enterFullscreen() {
    await this.#container.requestFullscreen({ navigationUI: 'hide' });
    this.#canvas.focus();
    if (navigator.keyboard && typeof navigator.keyboard.lock === 'function') {
      try {
        await navigator.keyboard.lock();
        return true;
      } catch {
        return false;
      }
    }
    return false;
  }

  #listen() {
    const canvas = this.#canvas;
    canvas.addEventListener('pointermove', (event) => {
      if (!this.controlling) return;
      this.#pendingMove = this.toRemote(event.clientX, event.clientY);
      if (!this.#moveScheduled) {
        this.#moveScheduled = true;
        // One move per displayed frame at most, as the Python viewer flushes once per poll.
        requestAnimationFrame(() => this.#flushMove());
      }
    });
    canvas.addEventListener('pointerdown', (event) => this.#button(event, true));
    canvas.addEventListener('pointerup', (event) => this.#button(event, false));
    canvas.addEventListener('contextmenu', (event) => event.preventDefault());
    canvas.addEventListener(
      'wheel',
      (event) => {
        if (!this.controlling) return;
        event.preventDefault();
        const [dx, dy] = this.#wheel.add(event);
        if (dx || dy) {
          const [x, y] = this.toRemote(event.clientX, event.clientY);
          this.#send(new Scroll({ x, y, dx, dy }));
        }
      },
      { passive: false },
    );
    canvas.addEventListener('keydown', (event) => this.#key(event, true));
    canvas.addEventListener('keyup', (event) => this.#key(event, false));
    canvas.addEventListener('blur', () => this.releaseAll());
    document.addEventListener('fullscreenchange', () => {
      if (document.fullscreenElement === null && navigator.keyboard?.unlock) navigator.keyboard.unlock();
      this.layout();
    });
  }

  #flushMove() {
    this.#moveScheduled = false;
    if (this.#pendingMove === null || !this.controlling) return;
    const [x, y] = this.#pendingMove;
    this.#pendingMove = null;
    this.#send(new PointerMove({ x, y }));
  }

  #button(event, pressed) {
    if (!this.controlling) return;
    const button = buttonFor(event.button);
    if (button === null) return;
    event.preventDefault();
    this.#canvas.focus();
    if (pressed) this.#canvas.setPointerCapture(event.pointerId);
    const [x, y] = this.toRemote(event.clientX, event.clientY);
    this.#flushMove();
    this.#send(new PointerMove({ x, y }));
    this.#send(new PointerButton({ x, y, button, pressed }));
  }

  #key(event, pressed) {
    if (!this.controlling || event.isComposing) return;
    event.preventDefault(); // Tab, Backspace, Space and the rest belong to the customer
    if (pressed && event.repeat && event.key.length !== 1 && !['Backspace', 'Delete', 'Enter'].includes(event.key)) {
      // auto-repeat of modifiers and the like adds nothing
      if (['Shift', 'Control', 'Alt', 'Meta', 'AltGraph', 'CapsLock'].includes(event.key)) return;
    }
    const key = pressed ? this.#keys.press(event) : this.#keys.release(event);
    if (key !== null) this.#send(new Key({ key, pressed }));
  }
}
