// What a session costs, as protocol/billing.py has it: the one rule the relay's invoices
// and both live displays use. Money is exact decimal arithmetic (fractions of BigInts,
// never floating point); rounding to cents happens in one place, `toCents` (half up), on
// the net and on the VAT; gross = net + VAT.
//
// A tariff is what control.js reads from `joined`: amounts as decimal text
// ({ratePerMinute: '1.40', vatPercent: '19', rounding: 'started-minute', minimumCharge: '0'}).
// Amounts come back as text with two decimals ("1.67").

import { ProtocolError } from './errors.js';

export const Rounding = Object.freeze({ PER_STARTED_MINUTE: 'started-minute', EXACT_SECONDS: 'exact' });
export const DEFAULT_TARIFF = Object.freeze({
  ratePerMinute: '1.40',
  vatPercent: '19',
  rounding: Rounding.PER_STARTED_MINUTE,
  minimumCharge: '0',
});

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** An exact number n/d (d > 0). */
class Fraction {
  constructor(n, d = 1n) {
    if (d < 0n) [n, d] = [-n, -d];
    this.n = n;
    this.d = d;
  }
  static parse(text) {
    const match = DECIMAL.exec(String(text).trim());
    if (match === null || (match[2] === '' && (match[3] ?? '') === '')) {
      throw new ProtocolError('an amount must be a decimal number');
    }
    const [, sign, whole, fraction = '', exponent = '0'] = match;
    let n = BigInt((whole || '0') + fraction) * (sign === '-' ? -1n : 1n);
    let d = 10n ** BigInt(fraction.length);
    const shift = BigInt(exponent);
    if (shift >= 0n) n *= 10n ** shift;
    else d *= 10n ** -shift;
    return new Fraction(n, d);
  }
  add(other) {
    return new Fraction(this.n * other.d + other.n * this.d, this.d * other.d);
  }
  mul(other) {
    return new Fraction(this.n * other.n, this.d * other.d);
  }
  div(other) {
    return new Fraction(this.n * other.d, this.d * other.n);
  }
  cmp(other) {
    const left = this.n * other.d;
    const right = other.n * this.d;
    return left < right ? -1 : left > right ? 1 : 0;
  }
  ceil() {
    const q = this.n / this.d; // BigInt division truncates toward zero
    return new Fraction(this.n > 0n && q * this.d !== this.n ? q + 1n : q);
  }
}

const ZERO = new Fraction(0n);
const SIXTY = new Fraction(60n);
const HUNDRED = new Fraction(100n);

/** The one place where money is rounded: to whole cents, half up (away from zero). */
function toCents(amount) {
  const negative = amount.n < 0n;
  const n = negative ? -amount.n : amount.n;
  const cents = (n * 200n + amount.d) / (2n * amount.d);
  return new Fraction(negative ? -cents : cents, 100n);
}

/** Cents as text with two decimals: 167n/100n -> "1.67". */
function centsText(amount) {
  const cents = toCents(amount).n;
  const negative = cents < 0n;
  const digits = (negative ? -cents : cents).toString().padStart(3, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

function tariffOf(tariff) {
  const t = tariff ?? DEFAULT_TARIFF;
  const rounding = t.rounding || Rounding.PER_STARTED_MINUTE;
  if (!Object.values(Rounding).includes(rounding)) throw new ProtocolError(`unknown rounding '${rounding}'`);
  return {
    rate: Fraction.parse(t.ratePerMinute || DEFAULT_TARIFF.ratePerMinute),
    vat: Fraction.parse(t.vatPercent || '0'),
    rounding,
    minimum: Fraction.parse(t.minimumCharge || '0'),
  };
}

/** Minutes to bill for `seconds` of consented time (negative counts as zero). */
function billableMinutes(seconds, rounding) {
  let exact = Fraction.parse(typeof seconds === 'number' ? numberText(seconds) : String(seconds)).div(SIXTY);
  if (exact.cmp(ZERO) < 0) exact = ZERO;
  return rounding === Rounding.PER_STARTED_MINUTE ? exact.ceil() : exact;
}

// Python's str(float) and JS's String(number) are both the shortest text that reads back
// as the same double (JS may write an exponent, which Fraction.parse reads).
function numberText(value) {
  if (!Number.isFinite(value)) throw new RangeError('seconds must be a finite number');
  return String(value);
}

/** What `seconds` of consented session time cost under `tariff`: {minutes, net, vat, gross},
 * the money as text with two decimals. */
export function bill(seconds, tariff) {
  const t = tariffOf(tariff);
  const minutes = billableMinutes(seconds, t.rounding);
  let net = minutes.mul(t.rate);
  if (minutes.cmp(ZERO) > 0 && net.cmp(t.minimum) < 0) net = t.minimum;
  net = toCents(net);
  const vat = toCents(net.mul(t.vat).div(HUNDRED));
  return {
    minutes: t.rounding === Rounding.PER_STARTED_MINUTE ? minutes.n.toString() : decimalText(minutes, 6),
    net: centsText(net),
    vat: centsText(vat),
    gross: centsText(net.add(vat)),
  };
}

function decimalText(amount, places) {
  const scale = 10n ** BigInt(places);
  const scaled = (amount.n * scale) / amount.d;
  const digits = scaled.toString().padStart(places + 1, '0');
  return `${digits.slice(0, -places)}.${digits.slice(-places)}`.replace(/\.?0+$/, '');
}

/** An amount of euros for a person: German "1.234,56 €", English "€1,234.56". */
export function formatEuro(amount, language) {
  const text = centsText(Fraction.parse(amount));
  const negative = text.startsWith('-');
  const [whole, cents] = (negative ? text.slice(1) : text).split('.');
  const sign = negative ? '-' : '';
  if (language === 'de') return `${sign}${group(whole, '.')},${cents} €`;
  return `${sign}€${group(whole, ',')}.${cents}`;
}

function group(whole, separator) {
  const groups = [];
  let rest = whole;
  while (rest.length > 3) {
    groups.unshift(rest.slice(-3));
    rest = rest.slice(0, -3);
  }
  groups.unshift(rest);
  return groups.join(separator);
}

/** 19 -> "19 %", 7.5 -> "7,5 %" (German) or "7.5 %": Decimal.normalize() without exponent. */
export function formatPercent(percent, language) {
  const value = Fraction.parse(percent);
  let text = decimalText(value, 30);
  if (text === '' || text === '-') text = '0';
  return (language === 'de' ? text.replace('.', ',') : text) + ' %';
}

/** What one minute costs with VAT, in cents (the figure a customer compares). */
export function grossPerMinute(tariff) {
  const t = tariffOf(tariff);
  return centsText(t.rate.mul(HUNDRED.add(t.vat)).div(HUNDRED));
}

const PRICE_WORDS = {
  de: {
    [Rounding.PER_STARTED_MINUTE]: '{rate} pro angefangene Minute zzgl. {vat} MwSt. ({gross} pro Minute inkl. MwSt.)',
    [Rounding.EXACT_SECONDS]:
      '{rate} pro Minute, sekundengenau abgerechnet, zzgl. {vat} MwSt. ({gross} pro Minute inkl. MwSt.)',
    minimum: '; mindestens {minimum} netto je Sitzung',
  },
  en: {
    [Rounding.PER_STARTED_MINUTE]: '{rate} per started minute plus {vat} VAT ({gross} per minute incl. VAT)',
    [Rounding.EXACT_SECONDS]: '{rate} per minute, billed by the second, plus {vat} VAT ({gross} per minute incl. VAT)',
    minimum: '; at least {minimum} net per session',
  },
};

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => values[name]);
}

/** The one wording of a tariff, for the customer, the technician and the invoice. */
export function priceText(tariff, language) {
  const lang = language === 'de' ? 'de' : 'en';
  const words = PRICE_WORDS[lang];
  const t = { ...DEFAULT_TARIFF, ...(tariff ?? {}) };
  const parsed = tariffOf(t);
  let text = fill(words[parsed.rounding], {
    rate: formatEuro(t.ratePerMinute, lang),
    vat: formatPercent(t.vatPercent || '0', lang),
    gross: formatEuro(grossPerMinute(t), lang),
  });
  if (parsed.minimum.cmp(ZERO) > 0) text += fill(words.minimum, { minimum: formatEuro(t.minimumCharge, lang) });
  return text;
}
