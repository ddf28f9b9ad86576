// The browser viewer's page: sign-in, the customer's code, the session (screen, buttons,
// chat, status bar) and its end, in German or English. It owns the DOM; the session is a
// BrowserSession (browser_session.js) over a WebSocket to the page's own relay
// (relay_link.js), the picture a Framebuffer painted on a canvas (screen.js), the evidence
// recording a file in the origin-private file system written by a worker
// (recording_store.js). Nothing here is inline in the HTML: the relay's
// Content-Security-Policy allows only this origin's scripts and styles.

import { bill } from './billing.js';
import { BrowserSession, ChatReceived, CursorMoved, Ending, FrameApplied, Phase, StatusChanged } from './browser_session.js';
import { parseCode } from './codes.js';
import { InvalidCode } from './errors.js';
import { SessionEvidence } from './evidence.js';
import { Framebuffer } from './framebuffer.js';
import { Texts, detectLanguage, oneLine } from './i18n.js';
import { decodeImage } from './images.js';
import { Chat, ConsentLevel, ControlRequest, RefreshRequest } from './messages.js';
import { RecordingStore, offerDownload } from './recording_store.js';
import { openLink, relayUrl } from './relay_link.js';
import { Mode, RemoteScreen } from './screen.js';
import { VideoDecoders } from './video.js';

const SIGN_IN = '/v1/signin';
const SIGN_OUT = '/v1/signout';
const VIEWER_PATH = '/v1/viewer';
const LANGUAGE_KEY = 'fernwartung.language';
const STATUS_INTERVAL_MS = 500;
const LIVE_WINDOW_SECONDS = 2;
const MAX_CHAT_SHOWN_CHARS = 200;
const KEPT_FRAME_STATS = 2000;

const $ = (id) => document.getElementById(id);
const VIEWS = ['signin-view', 'code-view', 'session-view', 'end-view'];
const CONSENT_KEYS = {
  [ConsentLevel.PENDING]: 'consent_pending',
  [ConsentLevel.DENIED]: 'consent_denied',
  [ConsentLevel.VIEW]: 'consent_view',
  [ConsentLevel.CONTROL]: 'consent_control',
};
const HEADLINES = {
  [Ending.ENDED]: 'end_ended',
  [Ending.ERROR]: 'end_error',
  [Ending.WRONG_CODE]: 'end_wrong_code',
  [Ending.CODE_VOID]: 'end_code_void',
  [Ending.NOT_AUTHORISED]: 'end_not_authorised',
  [Ending.DENIED]: 'end_denied',
  [Ending.RELAY_UNREACHABLE]: 'end_relay_unreachable',
};

let texts = new Texts(chosenLanguage());
const state = {
  technician: null,
  session: null,
  framebuffer: null,
  screen: null,
  store: null,
  recordingName: null,
  frames: [], // recent FrameApplied stats, with the time the canvas was painted
  controlWasGranted: false,
  keyboardLocked: false,
  chatLine: '',
  outcome: null,
  endedAt: null,
  statusTimer: null,
};

/** The running page's state, for the end-to-end tests and the benchmark (read only). */
export function pageState() {
  return state;
}

function chosenLanguage() {
  try {
    const stored = localStorage.getItem(LANGUAGE_KEY);
    if (stored === 'de' || stored === 'en') return stored;
  } catch {
    // storage may be off; the browser's language it is
  }
  return detectLanguage(navigator.languages ?? [navigator.language]);
}

function setLanguage(language, remember) {
  texts = new Texts(language);
  document.documentElement.lang = language;
  $('language').value = language;
  if (remember) {
    try {
      localStorage.setItem(LANGUAGE_KEY, language);
    } catch {
      // not kept: fine
    }
  }
  document.title = texts.t('page_title');
  for (const element of document.querySelectorAll('[data-text]')) element.textContent = texts.t(element.dataset.text);
  for (const element of document.querySelectorAll('[data-placeholder]')) {
    element.placeholder = texts.t(element.dataset.placeholder);
  }
  if (state.technician !== null) $('who').textContent = texts.t('signed_in_as', { name: state.technician });
  if (state.screen !== null) $('scale').textContent = texts.t(state.screen.mode === Mode.FIT ? 'scale_actual' : 'scale_fit');
  if (state.chatLine) $('chat-line').textContent = state.chatLine.render();
  showStatus();
  if (state.outcome !== null) showEnd();
  if (!$('code-view').hidden) listRecordings();
}

function show(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  const focus = { 'signin-view': 'signin-name', 'code-view': 'code', 'session-view': 'remote' }[view];
  if (focus) $(focus).focus();
}

// ---- sign-in ---------------------------------------------------------------------------

async function checkSignIn() {
  let answer;
  try {
    answer = await fetch(SIGN_IN, { method: 'GET', credentials: 'same-origin', cache: 'no-store' });
  } catch {
    answer = null;
  }
  if (answer !== null && answer.ok) {
    signedIn((await answer.json()).technician);
  } else {
    signedOut();
  }
}

function signedIn(name) {
  state.technician = name;
  $('who').textContent = texts.t('signed_in_as', { name });
  $('sign-out').hidden = false;
  show('code-view');
  listRecordings();
}

function signedOut() {
  state.technician = null;
  $('who').textContent = '';
  $('sign-out').hidden = true;
  show('signin-view');
}

async function signIn(event) {
  event.preventDefault();
  const error = $('signin-error');
  error.textContent = '';
  const name = $('signin-name').value.trim();
  const token = $('signin-token').value.trim();
  const totp = $('signin-totp').value.replace(/\s+/g, '');
  let answer;
  try {
    answer = await fetch(SIGN_IN, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: {
        Authorization: `Bearer ${token}`,
        'X-Fernwartung-Technician': encodeURIComponent(name),
        'X-Fernwartung-Totp': totp,
      },
    });
  } catch {
    error.textContent = texts.t('signin_failed');
    return;
  }
  $('signin-token').value = '';
  $('signin-totp').value = '';
  if (answer.ok) {
    signedIn((await answer.json()).technician);
    return;
  }
  const key = { 401: 'signin_refused', 429: 'signin_rate_limited', 503: 'signin_unavailable' }[answer.status];
  error.textContent = texts.t(key ?? 'signin_failed');
}

async function signOut() {
  try {
    await fetch(SIGN_OUT, { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
  } finally {
    signedOut();
  }
}

// ---- recordings kept in this browser ----------------------------------------------------

function recordingStore() {
  if (state.store === null) {
    state.store = new RecordingStore();
  }
  return state.store;
}

async function listRecordings() {
  const list = $('recordings');
  let files;
  try {
    files = await recordingStore().list();
  } catch {
    files = [];
  }
  list.replaceChildren();
  if (!files.length) {
    const none = document.createElement('li');
    none.textContent = texts.t('recordings_none');
    list.append(none);
    return;
  }
  for (const file of files) {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = `${file.name} (${Math.ceil(file.size / 1024)} KiB)`;
    const download = document.createElement('button');
    download.type = 'button';
    download.textContent = texts.t('download');
    download.addEventListener('click', async () => offerDownload(await recordingStore().read(file.name), file.name));
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary';
    remove.textContent = texts.t('delete');
    remove.addEventListener('click', async () => {
      await recordingStore().remove(file.name);
      listRecordings();
    });
    item.append(name, download, remove);
    list.append(item);
  }
}

// ---- the session -----------------------------------------------------------------------

function startWithCode(event) {
  event.preventDefault();
  const error = $('code-error');
  error.textContent = '';
  let code;
  try {
    code = parseCode($('code').value);
  } catch (caught) {
    if (!(caught instanceof InvalidCode)) throw caught;
    error.textContent = texts.t('code_invalid', { detail: caught.message });
    return;
  }
  $('code').value = '';
  runSession(code);
}

async function runSession(code) {
  const store = recordingStore();
  const framebuffer = new Framebuffer({ decodeImage, video: new VideoDecoders() });
  const screen =
    state.screen ?? new RemoteScreen({ container: $('screen'), canvas: $('remote'), cursor: $('cursor') }, sendInput);
  Object.assign(state, {
    framebuffer,
    screen,
    frames: [],
    controlWasGranted: false,
    chatLine: '',
    outcome: null,
    endedAt: null,
    recordingName: null,
  });
  $('chat-line').textContent = '';
  const evidence = new SessionEvidence({
    relay: relayUrl(VIEWER_PATH),
    openSink: (name) => {
      state.recordingName = name;
      return store.open(name);
    },
  });
  const session = new BrowserSession({
    code,
    connect: () => openLink(relayUrl(VIEWER_PATH)),
    framebuffer,
    evidence,
    onEvent,
  });
  state.session = session;
  show('session-view');
  screen.clear();
  screen.setMode(Mode.FIT);
  $('scale').textContent = texts.t('scale_actual');
  showStatus();
  state.statusTimer = setInterval(showStatus, STATUS_INTERVAL_MS);
  let outcome;
  try {
    outcome = await session.run();
  } catch (error) {
    outcome = { ending: Ending.ERROR, reason: error?.message ?? 'internal error' };
  }
  clearInterval(state.statusTimer);
  screen.setControlling(false);
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  state.outcome = outcome;
  state.endedAt = performance.now() / 1000;
  showEnd();
  show('end-view');
}

function sendInput(message) {
  state.session?.send(message).catch(() => {});
}

function onEvent(event) {
  if (event instanceof FrameApplied) {
    state.screen.paint(state.framebuffer, event.regions);
    const stat = { ...event.stat, paintedAt: (performance.timeOrigin + performance.now()) / 1000 };
    state.frames.push(stat);
    if (state.frames.length > KEPT_FRAME_STATS) state.frames.splice(0, state.frames.length - KEPT_FRAME_STATS);
  } else if (event instanceof CursorMoved) {
    state.screen.showCursor(event.x, event.y, event.visible);
  } else if (event instanceof StatusChanged) {
    const status = event.status;
    if (status.consent === ConsentLevel.CONTROL) state.controlWasGranted = true;
    state.screen.setControlling(status.consent === ConsentLevel.CONTROL && status.phase === Phase.ACTIVE);
    showStatus();
  } else if (event instanceof ChatReceived) {
    const text = oneLine(event.text, MAX_CHAT_SHOWN_CHARS);
    state.chatLine = { render: () => texts.t('chat_customer', { text }) };
    $('chat-line').textContent = state.chatLine.render();
  }
}

function liveFigures() {
  const now = Date.now() / 1000;
  const recent = state.frames.filter((stat) => stat.receivedAt >= now - LIVE_WINDOW_SECONDS);
  if (!recent.length) return { fps: 0, latencyMs: null };
  const latencies = recent.map((stat) => stat.paintedAt - stat.captureTime).sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)];
  return { fps: recent.length / LIVE_WINDOW_SECONDS, latencyMs: Math.max(median, 0) * 1000 };
}

function elapsedText(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  return `${hours}:${String(minutes).padStart(2, '0')}:${String(rest).padStart(2, '0')}`;
}

function showStatus() {
  const session = state.session;
  if (session === null) return;
  const status = session.status;
  const parts = [texts.t('status_session', { number: status.sessionNumber }), texts.t(CONSENT_KEYS[status.consent])];
  if (status.consentSince !== null) {
    const until = state.endedAt ?? performance.now() / 1000;
    const elapsed = until - status.consentSince;
    parts.push(elapsedText(elapsed), texts.t('status_cost', { gross: texts.money(bill(elapsed, status.tariff).gross) }));
  }
  const figures = liveFigures();
  parts.push(texts.t('status_fps', { fps: figures.fps.toFixed(0) }));
  if (figures.latencyMs !== null) parts.push(texts.t('status_latency', { ms: figures.latencyMs.toFixed(0) }));
  $('status-text').textContent = parts.join(' · ');
  const recording = status.recording && session.evidence?.recording;
  const dot = $('recording-dot');
  dot.classList.toggle('on', Boolean(recording));
  dot.title = texts.t(recording ? 'recording_on' : 'recording_off');
  let banner = '';
  if (status.phase !== Phase.ACTIVE && status.phase !== Phase.ENDED) {
    banner = texts.t(`phase_${status.phase}`, { price: texts.price(status.tariff) });
  } else if (status.consent === ConsentLevel.VIEW && state.controlWasGranted) {
    banner = texts.t('control_taken_back');
  } else if (state.keyboardLocked && document.fullscreenElement) {
    banner = texts.t('keyboard_locked');
  }
  $('banner').textContent = banner;
  $('banner').hidden = !banner;
  $('request-control').disabled = !(status.consent === ConsentLevel.VIEW && status.phase === Phase.ACTIVE);
  $('refresh').disabled = status.phase !== Phase.ACTIVE;
  $('download-now').disabled = !session.evidence?.started;
}

function showEnd() {
  const outcome = state.outcome;
  const status = state.session.status;
  $('end-headline').textContent = texts.t(HEADLINES[outcome.ending] ?? 'end_error');
  $('end-reason').textContent = outcome.reason ? texts.reason(outcome.reason) : '';
  const lines = { 'end-duration': '', 'end-cost': '', 'end-tariff': '', 'end-recording': '' };
  if (status.consentSince !== null) {
    const seconds = state.endedAt - status.consentSince;
    const cost = bill(seconds, status.tariff);
    lines['end-duration'] = texts.t('end_duration', { duration: texts.span(seconds) });
    lines['end-cost'] = texts.t('end_cost', {
      net: texts.money(cost.net),
      vat: texts.money(cost.vat),
      gross: texts.money(cost.gross),
    });
  }
  if (status.tariff !== null) lines['end-tariff'] = texts.t('end_tariff', { price: texts.price(status.tariff) });
  if (state.recordingName !== null) lines['end-recording'] = texts.t('end_recording', { name: state.recordingName });
  for (const [id, text] of Object.entries(lines)) {
    $(id).textContent = text;
    $(id).hidden = !text;
  }
  $('end-download').hidden = state.recordingName === null;
}

async function downloadNow() {
  if (state.recordingName === null) return;
  offerDownload(await recordingStore().snapshot(), state.recordingName);
}

async function downloadAtEnd() {
  if (state.recordingName === null) return;
  offerDownload(await recordingStore().read(state.recordingName), state.recordingName);
}

async function fullscreen() {
  try {
    state.keyboardLocked = await state.screen.enterFullscreen();
  } catch {
    state.keyboardLocked = false;
  }
  showStatus();
}

function toggleScale() {
  const screen = state.screen;
  screen.setMode(screen.mode === Mode.FIT ? Mode.ACTUAL : Mode.FIT);
  $('scale').textContent = texts.t(screen.mode === Mode.FIT ? 'scale_actual' : 'scale_fit');
}

function sendChat(event) {
  event.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text || state.session === null) return;
  input.value = '';
  state.session.send(new Chat({ text })).catch(() => {});
  const shown = oneLine(text, MAX_CHAT_SHOWN_CHARS);
  state.chatLine = { render: () => texts.t('chat_you', { text: shown }) };
  $('chat-line').textContent = state.chatLine.render();
}

function wire() {
  $('language').addEventListener('change', (event) => setLanguage(event.target.value, true));
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('code-form').addEventListener('submit', startWithCode);
  $('request-control').addEventListener('click', () => state.session?.send(new ControlRequest()).catch(() => {}));
  $('refresh').addEventListener('click', () => state.session?.send(new RefreshRequest()).catch(() => {}));
  $('scale').addEventListener('click', toggleScale);
  $('fullscreen').addEventListener('click', fullscreen);
  $('download-now').addEventListener('click', downloadNow);
  $('end').addEventListener('click', () => state.session?.requestEnd('the technician ended the session'));
  $('chat-form').addEventListener('submit', sendChat);
  $('end-download').addEventListener('click', downloadAtEnd);
  $('new-session').addEventListener('click', () => {
    state.session = null;
    state.outcome = null;
    show('code-view');
    listRecordings();
  });
  window.addEventListener('pagehide', () => state.session?.requestEnd('the technician closed the viewer'));
}

wire();
setLanguage(texts.language, false);
checkSignIn();
