// The keys a viewer may send and a host may inject, as protocol/keys.py has them: one
// printable character ("a", "Ä", "€") or one of the X keysym names below.

export const MODIFIER_KEYS = new Set([
  'Shift_L', 'Shift_R', 'Control_L', 'Control_R', 'Alt_L', 'Alt_R',
  'Super_L', 'Super_R', 'Meta_L', 'Meta_R', 'ISO_Level3_Shift', 'Caps_Lock',
]);

export const SPECIAL_KEYS = new Set([
  'Return', 'KP_Enter', 'BackSpace', 'Tab', 'ISO_Left_Tab', 'Escape', 'Delete',
  'Insert', 'Home', 'End', 'Page_Up', 'Prior', 'Page_Down', 'Next',
  'Left', 'Right', 'Up', 'Down', 'space', 'Menu', 'Print', 'Pause', 'Num_Lock',
  'Scroll_Lock',
  ...Array.from({ length: 12 }, (_, n) => `F${n + 1}`),
]);

export const NAMED_KEYS = new Set([...MODIFIER_KEYS, ...SPECIAL_KEYS]);

// Python's str.isprintable for one character: not a control, format, surrogate, private,
// unassigned or separator character, except the plain space.
const PRINTABLE = /^(?: |[^\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}])$/u;

/** True for one printable character or a known key name. */
export function isKnownKey(key) {
  if ([...key].length === 1) return PRINTABLE.test(key);
  return NAMED_KEYS.has(key);
}
