// The one translation table of the browser viewer (German and English), with the same
// words as the Python viewer's (viewer/texts.py) where the two say the same thing, and the
// language chosen from the browser's languages unless the technician picks one.
// Text from the other side (chat, reasons) is shown as one inert line (`oneLine`, as
// protocol/peer_text.py).

import { formatEuro, priceText } from './billing.js';

export const LANGUAGES = Object.freeze(['de', 'en']);

const TABLE = {
  page_title: { de: 'Fernwartung', en: 'Remote support' },
  language: { de: 'Sprache', en: 'Language' },
  // Sign-in
  signin_heading: { de: 'Anmelden', en: 'Sign in' },
  signin_intro: {
    de: 'Melden Sie sich einmal mit Ihrem Namen, Ihrem Token und dem Code Ihrer Authenticator-App an.',
    en: 'Sign in once with your name, your token and the code of your authenticator app.',
  },
  signin_name: { de: 'Name', en: 'Name' },
  signin_token: { de: 'Token', en: 'Token' },
  signin_totp: { de: 'Einmalcode (6 Ziffern)', en: 'One-time code (6 digits)' },
  signin_submit: { de: 'Anmelden', en: 'Sign in' },
  signin_refused: {
    de: 'Name, Token oder Einmalcode wurden nicht angenommen.',
    en: 'Name, token or one-time code not accepted.',
  },
  signin_rate_limited: {
    de: 'Zu viele Anmeldeversuche. Bitte warten Sie etwas.',
    en: 'Too many sign-in attempts. Please wait a while.',
  },
  signin_unavailable: {
    de: 'Der Dienst kann gerade niemanden anmelden. Bitte später erneut versuchen.',
    en: 'The service cannot sign anyone in right now. Please try again later.',
  },
  signin_failed: { de: 'Die Anmeldung ist fehlgeschlagen.', en: 'Signing in failed.' },
  signed_in_as: { de: 'Angemeldet als {name}', en: 'Signed in as {name}' },
  sign_out: { de: 'Abmelden', en: 'Sign out' },
  // Code entry
  code_heading: { de: 'Code des Kunden', en: "The customer's code" },
  code_intro: {
    de: 'Geben Sie den Code ein, den der Kunde vorliest (Leerzeichen und Striche sind egal).',
    en: 'Type the code the customer reads out (spaces and dashes do not matter).',
  },
  code_label: { de: 'Code', en: 'Code' },
  connect: { de: 'Verbinden', en: 'Connect' },
  code_invalid: {
    de: 'Das ist kein gültiger Code: {detail}',
    en: 'That is not a valid code: {detail}',
  },
  recordings_heading: { de: 'Aufzeichnungen in diesem Browser', en: 'Recordings in this browser' },
  recordings_none: { de: 'Keine.', en: 'None.' },
  download: { de: 'Herunterladen', en: 'Download' },
  delete: { de: 'Löschen', en: 'Delete' },
  // The session's buttons
  request_control: { de: 'Steuerung erbitten', en: 'Request control' },
  refresh: { de: 'Bild neu anfordern', en: 'Full refresh' },
  scale_actual: { de: '1:1', en: '1:1' },
  scale_fit: { de: 'Einpassen', en: 'Fit' },
  fullscreen: { de: 'Vollbild', en: 'Full screen' },
  end_session: { de: 'Sitzung beenden', en: 'End session' },
  download_recording: { de: 'Aufzeichnung herunterladen', en: 'Download recording' },
  chat_placeholder: { de: 'Nachricht an den Kunden', en: 'Message to the customer' },
  send: { de: 'Senden', en: 'Send' },
  chat_you: { de: 'Sie: {text}', en: 'You: {text}' },
  chat_customer: { de: 'Kunde: {text}', en: 'Customer: {text}' },
  new_session: { de: 'Neue Sitzung', en: 'New session' },
  // Phases, as the banner names them
  phase_connecting: { de: 'Verbinde mit dem Relay', en: 'Connecting to the relay' },
  phase_joining: { de: 'Trete der Sitzung bei', en: 'Joining the session' },
  phase_handshake: { de: 'Prüfe den Code', en: 'Checking the code' },
  phase_greeting: { de: 'Stimme Versionen ab', en: 'Exchanging versions' },
  phase_awaiting_consent: {
    de: 'Warte auf die Zustimmung des Kunden · Preis: {price}',
    en: "Waiting for the customer's approval · price: {price}",
  },
  phase_active: { de: 'aktiv', en: 'active' },
  phase_paused: { de: 'Der Kunde hat die Freigabe pausiert', en: 'The customer has paused screen sharing' },
  phase_reconnecting: { de: 'Verbindung wird wiederhergestellt …', en: 'Reconnecting …' },
  phase_ending: { de: 'Die Sitzung wird beendet …', en: 'Ending the session …' },
  phase_ended: { de: 'Sitzung beendet', en: 'Session ended' },
  control_taken_back: {
    de: 'Der Kunde hat die Steuerung zurückgenommen: nur ansehen',
    en: 'The customer has taken back control: view only',
  },
  keyboard_locked: {
    de: 'Vollbild: alle Tasten gehen an den Kunden (Esc gedrückt halten zum Verlassen)',
    en: "Full screen: every key goes to the customer's computer (hold Esc to leave)",
  },
  // Status bar
  status_session: { de: 'Sitzung {number}', en: 'Session {number}' },
  consent_pending: { de: 'wartet auf Zustimmung', en: 'waiting for approval' },
  consent_denied: { de: 'abgelehnt', en: 'declined' },
  consent_view: { de: 'nur ansehen', en: 'view only' },
  consent_control: { de: 'ansehen und steuern', en: 'view and control' },
  status_cost: { de: '{gross} inkl. MwSt.', en: '{gross} incl. VAT' },
  status_fps: { de: '{fps} Bilder/s', en: '{fps} frames/s' },
  status_latency: { de: '{ms} ms', en: '{ms} ms' },
  recording_on: { de: 'Aufzeichnung läuft', en: 'Recording' },
  recording_off: { de: 'Keine Aufzeichnung', en: 'Not recording' },
  // How a session ends (headlines)
  end_ended: { de: 'Sitzung beendet', en: 'Session ended' },
  end_error: { de: 'Fehler', en: 'Error' },
  end_wrong_code: {
    de: 'Falscher Code: bitten Sie den Kunden, ihn noch einmal vorzulesen',
    en: 'Wrong code: ask the customer to read it out again',
  },
  end_code_void: { de: 'Der Code ist unbekannt, abgelaufen oder ungültig', en: 'The code is unknown, expired or void' },
  end_not_authorised: { de: 'Nicht berechtigt', en: 'Not authorised' },
  end_denied: { de: 'Der Kunde hat die Sitzung abgelehnt', en: 'The customer declined the session' },
  end_relay_unreachable: { de: 'Relay nicht erreichbar', en: 'Relay unreachable' },
  end_recording_failed: { de: 'Die Aufzeichnung ist fehlgeschlagen', en: 'The recording failed' },
  end_duration: { de: 'Dauer ab Zustimmung: {duration}', en: 'From consent: {duration}' },
  end_cost: { de: 'Kosten: {net} netto + {vat} MwSt. = {gross}', en: 'Cost: {net} net + {vat} VAT = {gross}' },
  end_tariff: { de: 'Tarif: {price}', en: 'Tariff: {price}' },
  end_recording: {
    de: 'Die Aufzeichnung dieser Sitzung liegt in diesem Browser: {name}',
    en: 'The recording of this session is kept in this browser: {name}',
  },
  // Reasons the other side, the relay or this page give (English on the wire)
  reason_customer_ended: { de: 'Der Kunde hat die Sitzung beendet', en: 'The customer ended the session' },
  reason_you_ended: { de: 'Sie haben die Sitzung beendet', en: 'You ended the session' },
  reason_you_closed: { de: 'Sie haben das Fenster geschlossen', en: 'You closed the window' },
  reason_customer_disconnected: { de: 'Die Verbindung des Kunden ist getrennt', en: 'The customer disconnected' },
  reason_customer_stalled: { de: 'Die Verbindung des Kunden hängt', en: "The customer's connection stalled" },
  reason_customer_lost_server: {
    de: 'Der Kunde hat die Verbindung zum Server verloren',
    en: 'The customer lost the connection to the server',
  },
  reason_customer_denied: { de: 'Der Kunde hat den Zugriff abgelehnt', en: 'The customer denied access' },
  reason_relay_closed: { de: 'Die Verbindung zum Relay ist geschlossen', en: 'The connection to the relay is closed' },
  reason_recording_failed: { de: 'Ihre Aufzeichnung ist fehlgeschlagen', en: 'Your recording failed' },
  reason_revoked: {
    de: 'Ihr Zugang wurde vom Betreiber gesperrt',
    en: 'Your access was revoked by the operator',
  },
  unit_hour: { de: 'Stunde|Stunden', en: 'hour|hours' },
  unit_minute: { de: 'Minute|Minuten', en: 'minute|minutes' },
  unit_second: { de: 'Sekunde|Sekunden', en: 'second|seconds' },
};

// English reasons as they arrive (from the host, the relay, this page) -> a text key.
const KNOWN_REASONS = {
  'the customer ended the session': 'reason_customer_ended',
  'ended by the customer': 'reason_customer_ended',
  'the technician ended the session': 'reason_you_ended',
  'the technician closed the viewer': 'reason_you_closed',
  'the customer disconnected': 'reason_customer_disconnected',
  "the customer's connection stalled": 'reason_customer_stalled',
  'connection to the server lost': 'reason_customer_lost_server',
  'the customer denied access': 'reason_customer_denied',
  'the connection to the relay is closed': 'reason_relay_closed',
  "the technician's recording failed": 'reason_recording_failed',
  "the technician's access was revoked": 'reason_revoked',
};

export const MAX_PEER_LINE_CHARS = 300;
const UNSHOWN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\s]/u;

/** Text from the other side as one inert line of at most `maxChars` characters. */
export function oneLine(text, maxChars = MAX_PEER_LINE_CHARS) {
  const out = [];
  let gap = false;
  for (const char of String(text)) {
    if (UNSHOWN.test(char)) {
      gap = out.length > 0;
      continue;
    }
    if (gap) {
      out.push(' ');
      gap = false;
    }
    out.push(char);
    if (out.length > maxChars) break;
  }
  if (out.length > maxChars) return `${out.slice(0, Math.max(0, maxChars - 1)).join('').trimEnd()}…`;
  return out.join('');
}

/** German or English from the browser's preferred languages (English otherwise). */
export function detectLanguage(languages) {
  for (const tag of languages ?? []) {
    const primary = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return 'en';
}

export class Texts {
  constructor(language) {
    if (!LANGUAGES.includes(language)) throw new RangeError(`language must be one of ${LANGUAGES.join(', ')}`);
    this.language = language;
  }

  t(name, values = {}) {
    const entry = TABLE[name];
    if (entry === undefined) throw new RangeError(`no text '${name}'`);
    return entry[this.language].replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
  }

  money(euros) {
    return formatEuro(euros, this.language);
  }

  price(tariff) {
    return priceText(tariff, this.language);
  }

  /** A stretch of time in words: "8 Sekunden", "1 Minute", "1 Stunde 5 Minuten". */
  span(seconds) {
    const whole = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const parts = [
      [hours, 'unit_hour'],
      [minutes, 'unit_minute'],
    ];
    if (!hours) parts.push([whole % 60, 'unit_second']);
    const words = parts.filter(([count]) => count).map(([count, unit]) => this.#unit(count, unit));
    return words.join(' ') || this.#unit(0, 'unit_second');
  }

  #unit(count, unit) {
    const [singular, plural] = TABLE[unit][this.language].split('|');
    return `${count} ${count === 1 ? singular : plural}`;
  }

  /** A reason in this language where it is one this page knows; any other text (from the
   * other side) as one inert line. */
  reason(text) {
    const line = oneLine(text, 200);
    const separator = line.indexOf(': ');
    const head = separator >= 0 ? line.slice(0, separator) : line;
    const tail = separator >= 0 ? line.slice(separator + 2) : '';
    const whole = KNOWN_REASONS[line.toLowerCase()];
    if (whole !== undefined) return this.t(whole);
    const known = KNOWN_REASONS[head.toLowerCase()];
    if (known !== undefined && separator >= 0) return `${this.t(known)}: ${this.reason(tail)}`;
    return line;
  }
}

/** Every key of the table (for a test that both languages have each). */
export function allKeys() {
  return Object.keys(TABLE);
}

export function tableFor(name) {
  return TABLE[name];
}
