"""The one translation table for everything the technician reads (German and English)."""

from __future__ import annotations

import re
from typing import Final

from endpoint.language import LANGUAGES, Translations, detect_language
from protocol.peer_text import one_line

__all__ = ["LANGUAGES", "ViewerTexts", "all_keys", "detect_language", "translate_reason"]

MAX_REASON_CHARS = 200

_TABLE: Final[dict[str, dict[str, str]]] = {
    "title": {"de": "Fernwartung · Sitzung {session}", "en": "Remote support · session {session}"},
    "request_control": {"de": "Steuerung erbitten", "en": "Request control"},
    "refresh": {"de": "Bild neu anfordern", "en": "Full refresh"},
    "scale_actual": {"de": "1:1", "en": "1:1"},
    "scale_fit": {"de": "Einpassen", "en": "Fit"},
    "end_session": {"de": "Sitzung beenden", "en": "End session"},
    "send": {"de": "Senden", "en": "Send"},
    "chat_you": {"de": "Sie: {text}", "en": "You: {text}"},
    "chat_customer": {"de": "Kunde: {text}", "en": "Customer: {text}"},
    "connecting": {"de": "Verbinde …", "en": "Connecting …"},
    "ending": {"de": "Die Sitzung wird beendet …", "en": "Ending the session …"},
    # Phases, as the banner names them
    "phase_connecting": {"de": "Verbinde mit dem Relay", "en": "Connecting to the relay"},
    "phase_joining": {"de": "Trete der Sitzung bei", "en": "Joining the session"},
    "phase_handshake": {"de": "Prüfe den Code", "en": "Checking the code"},
    "phase_greeting": {"de": "Stimme Versionen ab", "en": "Exchanging versions"},
    "phase_awaiting_consent": {
        "de": "Warte auf die Zustimmung des Kunden · Preis: {price}",
        "en": "Waiting for the customer's approval · price: {price}",
    },
    "phase_active": {"de": "aktiv", "en": "active"},
    "phase_paused": {
        "de": "Der Kunde hat die Freigabe pausiert",
        "en": "The customer has paused screen sharing",
    },
    "phase_reconnecting": {
        "de": "Verbindung wird wiederhergestellt …",
        "en": "Reconnecting …",
    },
    "phase_ending": {"de": "Die Sitzung wird beendet …", "en": "Ending the session …"},
    "phase_ended": {"de": "Sitzung beendet", "en": "Session ended"},
    "control_taken_back": {
        "de": "Der Kunde hat die Steuerung zurückgenommen: nur ansehen",
        "en": "The customer has taken back control: view only",
    },
    # Status bar
    "status_session": {"de": "Sitzung {number}", "en": "Session {number}"},
    "consent_pending": {"de": "wartet auf Zustimmung", "en": "waiting for approval"},
    "consent_denied": {"de": "abgelehnt", "en": "declined"},
    "consent_view": {"de": "nur ansehen", "en": "view only"},
    "consent_control": {"de": "ansehen und steuern", "en": "view and control"},
    "status_cost": {"de": "{gross} inkl. MwSt.", "en": "{gross} incl. VAT"},
    "status_fps": {"de": "{fps} Bilder/s", "en": "{fps} frames/s"},
    "status_latency": {"de": "{ms} ms", "en": "{ms} ms"},
    "recording_on": {"de": "Aufzeichnung läuft", "en": "Recording"},
    "recording_off": {"de": "Keine Aufzeichnung", "en": "Not recording"},
    # Lines on stderr
    "said_phase": {"de": "Sitzung {session}: {phase}", "en": "Session {session}: {phase}"},
    "said_first_frame": {
        "de": "Sitzung {session}: erstes Bild angezeigt ({width}x{height} zu {percent} %)",
        "en": "Session {session}: first frame shown ({width}x{height} at {percent} %)",
    },
    "said_no_record": {
        "de": "ACHTUNG: --no-record: diese Sitzung wird NICHT aufgezeichnet; es gibt keinen "
        "Nachweis dessen, was gesehen und getan wurde",
        "en": "NOTICE: --no-record: this session is NOT recorded; there will be no evidence "
        "of what was seen and done",
    },
    # How a run ends (headlines by exit status)
    "end_ended": {"de": "Sitzung beendet", "en": "Session ended"},
    "end_error": {"de": "Fehler", "en": "Error"},
    "end_usage": {"de": "Aufruf nicht möglich", "en": "Cannot start like this"},
    "end_wrong_code": {
        "de": "Falscher Code: bitten Sie den Kunden, ihn noch einmal vorzulesen",
        "en": "Wrong code: ask the customer to read it out again",
    },
    "end_code_void": {
        "de": "Der Code ist unbekannt, abgelaufen oder ungültig",
        "en": "The code is unknown, expired or void",
    },
    "end_not_authorised": {"de": "Nicht berechtigt", "en": "Not authorised"},
    "end_denied": {
        "de": "Der Kunde hat die Sitzung abgelehnt",
        "en": "The customer declined the session",
    },
    "end_relay_unreachable": {"de": "Relay nicht erreichbar", "en": "Relay unreachable"},
    "end_certificate": {
        "de": "Das Zertifikat des Relays passt nicht",
        "en": "Relay certificate mismatch",
    },
    "end_reason": {"de": "Grund: {reason}", "en": "Reason: {reason}"},
    "advice_relay_unreachable": {
        "de": "Prüfen Sie die Adresse (--relay, wss://…) und ob das Relay läuft.",
        "en": "Check the address (--relay, wss://…) and that the relay is running.",
    },
    "advice_certificate": {
        "de": "Verbinden Sie sich nicht weiter; fragen Sie den Betreiber nach dem "
        "Fingerabdruck (--fingerprint).",
        "en": "Do not go on; ask the operator for the fingerprint (--fingerprint).",
    },
    "end_duration": {"de": "Dauer ab Zustimmung: {duration}", "en": "From consent: {duration}"},
    "end_cost": {
        "de": "Kosten: {net} netto + {vat} MwSt. = {gross}",
        "en": "Cost: {net} net + {vat} VAT = {gross}",
    },
    "end_tariff": {"de": "Tarif: {price}", "en": "Tariff: {price}"},
    "end_recording": {"de": "Aufzeichnung: {path}", "en": "Recording: {path}"},
    "end_not_recorded": {
        "de": "Diese Sitzung wurde nicht aufgezeichnet (--no-record).",
        "en": "This session was not recorded (--no-record).",
    },
    "end_close_hint": {
        "de": "Sie können dieses Fenster jetzt schließen.",
        "en": "You can close this window now.",
    },
    "close": {"de": "Schließen", "en": "Close"},
    # Reasons the other side, the relay or this program give (English on the wire)
    "reason_customer_ended": {
        "de": "Der Kunde hat die Sitzung beendet",
        "en": "The customer ended the session",
    },
    "reason_you_ended": {"de": "Sie haben die Sitzung beendet", "en": "You ended the session"},
    "reason_you_closed": {
        "de": "Sie haben das Fenster geschlossen",
        "en": "You closed the window",
    },
    "reason_time_limit": {
        "de": "Die Zeitgrenze (--seconds) ist erreicht",
        "en": "The time limit (--seconds) was reached",
    },
    "reason_customer_disconnected": {
        "de": "Die Verbindung des Kunden ist getrennt",
        "en": "The customer disconnected",
    },
    "reason_customer_stalled": {
        "de": "Die Verbindung des Kunden hängt",
        "en": "The customer's connection stalled",
    },
    "reason_customer_lost_server": {
        "de": "Der Kunde hat die Verbindung zum Server verloren",
        "en": "The customer lost the connection to the server",
    },
    "reason_customer_denied": {
        "de": "Der Kunde hat den Zugriff abgelehnt",
        "en": "The customer denied access",
    },
    "reason_relay_closed": {
        "de": "Die Verbindung zum Relay ist geschlossen",
        "en": "The connection to the relay is closed",
    },
    "reason_recording_failed": {
        "de": "Ihre Aufzeichnung ist fehlgeschlagen",
        "en": "Your recording failed",
    },
    "reason_cannot_reach": {
        "de": "das Relay unter {address} antwortet nicht ({error})",
        "en": "cannot reach the relay at {address} ({error})",
    },
    "reason_relay_refused": {
        "de": "das Relay hat die Verbindung abgelehnt (HTTP {status})",
        "en": "the relay refused the connection (HTTP {status})",
    },
    "reason_not_websocket": {
        "de": "unter {address} antwortet kein WebSocket-Server; mit TLS beginnt die Adresse "
        "mit wss://",
        "en": "the relay at {address} did not answer as a WebSocket server; if it uses TLS, "
        "the address starts with wss://",
    },
    "reason_certificate_mismatch": {
        "de": "das Zertifikat des Relays passt nicht zum hinterlegten Fingerabdruck",
        "en": "the relay's certificate does not match the pinned fingerprint",
    },
    "reason_certificate_untrusted": {
        "de": "dem Zertifikat des Relays wird nicht vertraut (mit --fingerprint festlegen)",
        "en": "the relay's certificate is not trusted (pin it with --fingerprint)",
    },
    "reason_token_refused": {
        "de": "das Relay hat dieses Techniker-Token abgelehnt",
        "en": "the relay refused this technician token",
    },
    "reason_message_refused": {
        "de": "eine beschädigte oder veränderte Nachricht wurde zurückgewiesen",
        "en": "a damaged or altered message was refused",
    },
    "reason_code_check_timeout": {
        "de": "die Code-Prüfung wurde nicht rechtzeitig fertig: das Programm des Kunden "
        "antwortet nicht",
        "en": "the code check did not finish in time: the customer's agent did not answer",
    },
}

# English sentences of the link to the relay (endpoint/relay_link.py) and of this program,
# with their varying parts, -> a text key taking those parts.
_KNOWN_PATTERNS: Final = (
    (re.compile(r"cannot reach the relay at (?P<address>\S+) \((?P<error>\w+)\)"),
     "reason_cannot_reach"),
    (re.compile(r"the relay refused the connection \(HTTP (?P<status>\d+)\)"),
     "reason_relay_refused"),
    (re.compile(r"the relay at (?P<address>\S+) did not answer as a WebSocket server; "
                r"if it uses TLS, the address starts with wss://"), "reason_not_websocket"),
    (re.compile(r"the relay's certificate does not match the pinned fingerprint"),
     "reason_certificate_mismatch"),
    (re.compile(r"the relay's certificate is not trusted \(pin it with --fingerprint\)"),
     "reason_certificate_untrusted"),
    (re.compile(r"the relay refused this technician token"), "reason_token_refused"),
    (re.compile(r"a damaged or altered message was refused"), "reason_message_refused"),
    (re.compile(r"the code check did not finish in time: the customer's agent did not answer"),
     "reason_code_check_timeout"),
)  # fmt: skip

# English reasons as they arrive (from the host, the relay, this program) -> a text key.
_KNOWN_REASONS: Final = {
    "the customer ended the session": "reason_customer_ended",
    "ended by the customer": "reason_customer_ended",
    "the technician ended the session": "reason_you_ended",
    "the technician closed the viewer": "reason_you_closed",
    "the viewer's time limit was reached": "reason_time_limit",
    "the customer disconnected": "reason_customer_disconnected",
    "the customer's connection stalled": "reason_customer_stalled",
    "connection to the server lost": "reason_customer_lost_server",
    "the customer denied access": "reason_customer_denied",
    "the connection to the relay is closed": "reason_relay_closed",
    "the technician's recording failed": "reason_recording_failed",
}


class ViewerTexts(Translations):
    """Texts for the technician in one language."""

    def __init__(self, language: str) -> None:
        super().__init__(_TABLE, language)


def translate_reason(reason: str, texts: ViewerTexts) -> str:
    """A reason in the technician's language where it is one this program knows; any
    other text (from the other side) as one inert line."""
    line = one_line(reason, MAX_REASON_CHARS)
    for pattern, key in _KNOWN_PATTERNS:
        found = pattern.fullmatch(line)
        if found is not None:
            return texts(key, **found.groupdict())
    head, separator, rest = line.partition(": ")
    for candidate, tail in ((line, ""), (head, rest if separator else None)):
        if tail is None:
            continue
        key = _KNOWN_REASONS.get(candidate.lower())
        if key is not None:
            return texts(key) + (f": {translate_reason(tail, texts)}" if tail else "")
    return line


def all_keys() -> frozenset[str]:
    return frozenset(_TABLE)
