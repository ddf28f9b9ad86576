// The page's billing (as protocol/billing.py computes it), its key and pointer mapping (to
// the keysym names protocol/keys.py knows, as viewer/input_map.py maps Tk's events) and its
// one translation table.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { bill, formatEuro, formatPercent, priceText } from '../../relay/browser/static/js/billing.js';
import { LANGUAGES, Texts, allKeys, detectLanguage, oneLine, tableFor } from '../../relay/browser/static/js/i18n.js';
import { NAMED_KEYS, isKnownKey } from '../../relay/browser/static/js/keys.js';
import { KeyTracker, WheelSteps, buttonFor, keyFor } from '../../relay/browser/static/js/keymap.js';
import { Button } from '../../relay/browser/static/js/messages.js';
import { vectors } from './vectors.mjs';

test('bills are protocol/billing.py bills, to the cent', () => {
  for (const v of vectors.billing.bills) {
    const got = bill(v.seconds, v.tariff);
    const where = JSON.stringify([v.seconds, v.tariff]);
    assert.deepEqual([got.net, got.vat, got.gross], [v.net, v.vat, v.gross], where);
    if (v.minutes !== null) assert.equal(got.minutes, v.minutes, where);
  }
  assert.ok(vectors.billing.bills.length >= 60);
});

test('money, percentages and prices are worded as in python', () => {
  for (const v of vectors.billing.money) assert.equal(formatEuro(v.amount, v.language), v.text, v.amount);
  for (const v of vectors.billing.percents) assert.equal(formatPercent(v.percent, v.language), v.text, v.percent);
  for (const v of vectors.billing.prices) assert.equal(priceText(v.tariff, v.language), v.text);
});

test('browser keys map to keysyms the host knows', () => {
  const cases = [
    [{ key: 'a', code: 'KeyA' }, 'a'],
    [{ key: 'A', code: 'KeyA' }, 'A'],
    [{ key: 'ä', code: 'Quote' }, 'ä'],
    [{ key: '€', code: 'KeyE' }, '€'],
    [{ key: ' ', code: 'Space' }, 'space'],
    [{ key: 'Enter', code: 'Enter' }, 'Return'],
    [{ key: 'Enter', code: 'NumpadEnter' }, 'KP_Enter'],
    [{ key: 'Backspace', code: 'Backspace' }, 'BackSpace'],
    [{ key: 'Tab', code: 'Tab' }, 'Tab'],
    [{ key: 'Escape', code: 'Escape' }, 'Escape'],
    [{ key: 'ArrowLeft', code: 'ArrowLeft' }, 'Left'],
    [{ key: 'PageDown', code: 'PageDown' }, 'Page_Down'],
    [{ key: 'F12', code: 'F12' }, 'F12'],
    [{ key: 'Shift', code: 'ShiftLeft' }, 'Shift_L'],
    [{ key: 'Shift', code: 'ShiftRight' }, 'Shift_R'],
    [{ key: 'Control', code: 'ControlLeft' }, 'Control_L'],
    [{ key: 'Alt', code: 'AltLeft' }, 'Alt_L'],
    [{ key: 'AltGraph', code: 'AltRight' }, 'ISO_Level3_Shift'],
    [{ key: 'Meta', code: 'MetaLeft' }, 'Super_L'],
    [{ key: 'CapsLock', code: 'CapsLock' }, 'Caps_Lock'],
    [{ key: 'ContextMenu', code: 'ContextMenu' }, 'Menu'],
    [{ key: 'Dead', code: 'Backquote' }, null],
    [{ key: 'Unidentified', code: '' }, null],
    [{ key: 'Process', code: 'KeyA' }, null],
    [{ key: 'AudioVolumeUp', code: 'AudioVolumeUp' }, null],
  ];
  for (const [event, expected] of cases) {
    const key = keyFor(event);
    assert.equal(key, expected, JSON.stringify(event));
    if (key !== null) assert.ok(isKnownKey(key), key);
  }
  for (const name of NAMED_KEYS) {
    // every keysym the page can produce is one the host takes
    assert.ok(isKnownKey(name));
  }
});

test('a released key sends what its press sent, and all held keys can be let go', () => {
  const keys = new KeyTracker();
  assert.equal(keys.press({ key: 'a', code: 'KeyA' }), 'a');
  assert.equal(keys.press({ key: 'Shift', code: 'ShiftLeft' }), 'Shift_L');
  assert.equal(keys.release({ key: 'A', code: 'KeyA' }), 'a');
  assert.equal(keys.press({ key: 'Control', code: 'ControlLeft' }), 'Control_L');
  assert.deepEqual(keys.releaseAll().sort(), ['Control_L', 'Shift_L']);
  assert.deepEqual(keys.releaseAll(), []);
});

test('buttons and wheel notches map as in the python viewer', () => {
  assert.equal(buttonFor(0), Button.LEFT);
  assert.equal(buttonFor(1), Button.MIDDLE);
  assert.equal(buttonFor(2), Button.RIGHT);
  assert.equal(buttonFor(3), null);
  const wheel = new WheelSteps();
  assert.deepEqual(wheel.add({ deltaY: 100 }), [0, -1]); // down: pynput dy < 0
  assert.deepEqual(wheel.add({ deltaY: -300 }), [0, 3]);
  assert.deepEqual(wheel.add({ deltaY: 40 }), [0, 0]);
  assert.deepEqual(wheel.add({ deltaY: 60 }), [0, -1]); // the rest carried over
  assert.deepEqual(wheel.add({ deltaX: 3, deltaMode: 1 }), [1, 0]);
  assert.deepEqual(wheel.add({ deltaY: 1e9 }), [0, -100]);
});

test('every text exists in German and English, and the language follows the browser', () => {
  for (const key of allKeys()) {
    for (const language of LANGUAGES) assert.ok(tableFor(key)[language], `${key} ${language}`);
  }
  assert.equal(detectLanguage(['de-AT', 'en']), 'de');
  assert.equal(detectLanguage(['fr-FR', 'en-GB']), 'en');
  assert.equal(detectLanguage(['fr']), 'en');
  const de = new Texts('de');
  assert.equal(de.t('status_session', { number: '48213' }), 'Sitzung 48213');
  assert.equal(de.money('1.67'), '1,67 €');
  assert.equal(de.span(65), '1 Minute 5 Sekunden');
  assert.equal(new Texts('en').span(3700), '1 hour 1 minute');
  assert.equal(de.reason('the customer ended the session: Feierabend'), 'Der Kunde hat die Sitzung beendet: Feierabend');
  assert.equal(de.reason('something\nnew\u202e'), 'something new');
});

test('text from the other side is one inert line', () => {
  assert.equal(oneLine('a\r\nb\tc\u0007d'), 'a b c d');
  assert.equal(oneLine('x'.repeat(400)).length, 300);
  assert.ok(oneLine('x'.repeat(400)).endsWith('…'));
});
