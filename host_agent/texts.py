"""The one translation table for everything the customer reads (German and English)."""

from __future__ import annotations

from typing import Final

from endpoint.language import LANGUAGES, Translations, detect_language

__all__ = ["KEY_NAMES", "LANGUAGES", "Texts", "all_keys", "detect_language"]

_TABLE: Final[dict[str, dict[str, str]]] = {
    "unsupported_platform": {
        "de": "Fernwartung kann auf diesem Betriebssystem den Bildschirm noch nicht teilen.",
        "en": "Remote support cannot share the screen on this operating system yet.",
    },
    "unsupported_no_display": {
        "de": "Fernwartung findet hier keinen Bildschirm, den es teilen kann; "
        "dieses System wird noch nicht unterstützt.",
        "en": "Remote support finds no screen it can share here; this system is not supported yet.",
    },
    "unsupported_no_portal": {
        "de": "Fernwartung kann den Bildschirm dieser Wayland-Sitzung noch nicht teilen "
        "(die Freigabe-Schnittstelle des Systems fehlt).",
        "en": "Remote support cannot share the screen of this Wayland session yet "
        "(the system's screen-sharing service is missing).",
    },
    "unsupported_call": {
        "de": "Bitte rufen Sie Ihren Dienstleister an; er hilft Ihnen auf anderem Weg weiter.",
        "en": "Please call your service provider; they will help you another way.",
    },
    "portal_refused": {
        "de": "Die Bildschirmfreigabe wurde im Dialog des Systems abgelehnt; "
        "der Techniker sieht nichts.",
        "en": "Screen sharing was declined in the system's dialog; the technician sees nothing.",
    },
    "title": {"de": "Fernwartung", "en": "Remote support"},
    "backup_note": {
        "de": "Bitte sichern Sie Ihre Daten, bevor ein Techniker auf Ihren PC zugreift.",
        "en": "Please back up your data before a technician works on your PC.",
    },
    "terms_heading": {"de": "Bedingungen", "en": "Terms"},
    "connecting": {"de": "Verbinde mit dem Server …", "en": "Connecting to the server …"},
    "code_label": {
        "de": "Ihr Code (lesen Sie ihn dem Techniker am Telefon vor):",
        "en": "Your code (read it out to the technician on the phone):",
    },
    "code_expires": {
        "de": "Der Code gilt {duration} und nur einmal.",
        "en": "The code is valid for {duration} and works once.",
    },
    "technician_connecting": {
        "de": "Ein Techniker verbindet sich …",
        "en": "A technician is connecting …",
    },
    "wrong_code": {
        "de": "Jemand hat einen falschen Code eingegeben ({tries} von {limit} Versuchen).",
        "en": "Someone typed a wrong code ({tries} of {limit} tries).",
    },
    "new_code_reason": {
        "de": "Zu viele falsche Versuche: der alte Code ist ungültig, hier ist ein neuer.",
        "en": "Too many wrong tries: the old code is void, here is a new one.",
    },
    "code_expired": {
        "de": "Der Code ist abgelaufen; hier ist ein neuer.",
        "en": "The code has expired; here is a new one.",
    },
    "consent_question": {
        "de": (
            "Techniker {technician} möchte Ihren Bildschirm sehen. Preis: {price}. "
            "n = ablehnen, v = nur ansehen, c = ansehen und steuern (Maus und Tastatur)"
        ),
        "en": (
            "Technician {technician} wants to see your screen. Price: {price}. "
            "n = deny, v = view only, c = view and control (mouse and keyboard)"
        ),
    },
    "consent_title": {"de": "Zugriff erlauben?", "en": "Allow access?"},
    "consent_intro": {
        "de": "Techniker {technician} ist verbunden.",
        "en": "Technician {technician} is connected.",
    },
    "consent_price": {"de": "Preis: {price}", "en": "Price: {price}"},
    "consent_hint": {
        "de": "Sie können jederzeit pausieren, die Stufe ändern oder die Sitzung beenden.",
        "en": "You can pause, change the level or end the session at any time.",
    },
    "answer_deny": {"de": "Ablehnen", "en": "Deny"},
    "answer_view": {"de": "Nur ansehen", "en": "View only"},
    "answer_control": {"de": "Ansehen und steuern", "en": "View and control"},
    "answer_deny_help": {
        "de": "Der Techniker sieht nichts; die Sitzung endet.",
        "en": "The technician sees nothing; the session ends.",
    },
    "answer_view_help": {
        "de": "Der Techniker sieht Ihren Bildschirm, kann aber nichts bedienen.",
        "en": "The technician sees your screen but cannot operate it.",
    },
    "answer_control_help": {
        "de": "Der Techniker sieht Ihren Bildschirm und bedient Maus und Tastatur.",
        "en": "The technician sees your screen and uses mouse and keyboard.",
    },
    "unknown_answer": {
        "de": "Bitte n, v oder c eingeben.",
        "en": "Please type n, v or c.",
    },
    "terminal_commands": {
        "de": "Befehle: p = Pause, r = fortsetzen, v = nur ansehen, c = steuern, "
        "m N = Bildschirm N zeigen, q = beenden",
        "en": "Commands: p = pause, r = resume, v = view only, c = control, "
        "m N = share monitor N, q = end",
    },
    "indicator": {
        "de": "Bildschirm geteilt mit {technician} ({level}) seit {duration}, "
        "bisher {cost} inkl. MwSt.",
        "en": "Screen shared with {technician} ({level}) for {duration}, so far {cost} incl. VAT",
    },
    "indicator_paused": {
        "de": "Freigabe pausiert ({technician}) seit {duration}, bisher {cost} inkl. MwSt.",
        "en": "Sharing paused ({technician}) for {duration}, so far {cost} incl. VAT",
    },
    "level_view": {"de": "nur ansehen", "en": "view only"},
    "level_control": {"de": "steuern", "en": "control"},
    "pause": {"de": "Pause", "en": "Pause"},
    "resume": {"de": "Fortsetzen", "en": "Resume"},
    "end_session": {"de": "Sitzung beenden", "en": "End session"},
    "monitor": {"de": "Bildschirm", "en": "Monitor"},
    "activity_heading": {
        "de": "Was der Techniker tut (Uhrzeiten: {zone})",
        "en": "What the technician does (times: {zone})",
    },
    "terms_scroll_hint": {
        "de": "Bitte lesen Sie die Bedingungen ganz (Bildlauf rechts).",
        "en": "Please read the terms in full (scroll bar on the right).",
    },
    # Activity log lines (summarised).
    "act_clicks": {
        "de": "Techniker klickt bei ({x}, {y})",
        "en": "Technician clicks at ({x}, {y})",
    },
    "act_right_clicks": {
        "de": "Techniker klickt rechts bei ({x}, {y})",
        "en": "Technician right-clicks at ({x}, {y})",
    },
    "act_middle_clicks": {
        "de": "Techniker klickt mit der mittleren Taste bei ({x}, {y})",
        "en": "Technician middle-clicks at ({x}, {y})",
    },
    "act_drags": {
        "de": "Techniker zieht von ({x}, {y}) nach ({x2}, {y2})",
        "en": "Technician drags from ({x}, {y}) to ({x2}, {y2})",
    },
    "act_types": {
        "de": "Techniker tippt {count} Zeichen",
        "en": "Technician types {count} characters",
    },
    "act_types_one": {
        "de": "Techniker tippt 1 Zeichen",
        "en": "Technician types 1 character",
    },
    "act_presses": {"de": "Techniker drückt {key}", "en": "Technician presses {key}"},
    "act_scrolls": {
        "de": "Techniker scrollt bei ({x}, {y})",
        "en": "Technician scrolls at ({x}, {y})",
    },
    "act_moves": {
        "de": "Techniker bewegt die Maus nach ({x}, {y})",
        "en": "Technician moves the mouse to ({x}, {y})",
    },
    "ev_consent": {
        "de": "Sie haben erlaubt: {level}",
        "en": "You allowed: {level}",
    },
    "ev_denied": {"de": "Sie haben abgelehnt.", "en": "You denied access."},
    "ev_paused": {"de": "Freigabe pausiert.", "en": "Sharing paused."},
    "ev_resumed": {"de": "Freigabe fortgesetzt.", "en": "Sharing resumed."},
    "ev_monitor": {
        "de": "Jetzt geteilt: Bildschirm {number}",
        "en": "Now shared: monitor {number}",
    },
    "ev_dropped": {
        "de": "{count} Eingaben des Technikers ohne Steuerrecht verworfen.",
        "en": "{count} inputs from the technician dropped (no control permission).",
    },
    "ev_control_requested": {
        "de": "Der Techniker bittet um Steuerung. Nur Sie können sie erlauben.",
        "en": "The technician asks for control. Only you can allow it.",
    },
    "control_request_terminal": {
        "de": "Tippen Sie c, um die Steuerung zu erlauben.",
        "en": "Type c to allow control.",
    },
    "control_request_title": {"de": "Steuerung erlauben?", "en": "Allow control?"},
    "control_request_text": {
        "de": "Techniker {technician} bittet darum, Ihre Maus und Tastatur zu bedienen.",
        "en": "Technician {technician} asks to use your mouse and keyboard.",
    },
    "control_allow": {"de": "Steuerung erlauben", "en": "Allow control"},
    "control_keep_view": {"de": "Weiter nur ansehen", "en": "Keep view only"},
    "ev_control_kept_view": {
        "de": "Sie haben die Steuerung nicht erlaubt; der Techniker sieht weiter nur zu.",
        "en": "You did not allow control; the technician keeps watching only.",
    },
    "ev_chat": {"de": "Techniker schreibt: {text}", "en": "Technician writes: {text}"},
    "reason_customer": {
        "de": "Sie haben die Sitzung beendet.",
        "en": "the customer ended the session",
    },
    "reason_relay_lost": {
        "de": "Verbindung zum Server verloren",
        "en": "connection to the server lost",
    },
    "reconnecting": {
        "de": "Verbindung wird wiederhergestellt … (Sie können die Sitzung jederzeit beenden)",
        "en": "Reconnecting … (you can end the session at any time)",
    },
    "reconnecting_technician": {
        "de": "Die Verbindung des Technikers wird wiederhergestellt …",
        "en": "The technician's connection is being restored …",
    },
    "ev_connection_lost": {
        "de": "Verbindung unterbrochen – Verbindung wird wiederhergestellt",
        "en": "Connection interrupted – reconnecting",
    },
    "ev_reconnected": {
        "de": "Verbindung wiederhergestellt; die Freigabe ist wie zuvor",
        "en": "Connection restored; sharing is as before",
    },
    "ev_late_input_dropped": {
        "de": "Verspätete Eingaben des Technikers verworfen (nicht ausgeführt)",
        "en": "Late inputs from the technician discarded (not carried out)",
    },
    "reason_viewer_left": {
        "de": "Der Techniker hat die Sitzung beendet.",
        "en": "the technician ended the session",
    },
    "reason_denied": {
        "de": "Sie haben den Zugriff abgelehnt; der Techniker hat nichts gesehen.",
        "en": "the customer denied access",
    },
    "reason_viewer_recording_failed": {
        "de": "Die Aufzeichnung des Technikers ist fehlgeschlagen; die Sitzung wurde sofort "
        "beendet, der Techniker sieht nichts mehr.",
        "en": "the technician's recording failed; the session was ended at once, "
        "the technician sees nothing more",
    },
    "reason_viewer_refused_message": {
        "de": "Das Programm des Technikers hat eine beschädigte oder veränderte Nachricht "
        "zurückgewiesen; die Sitzung wurde sofort beendet.",
        "en": "the technician's program refused a damaged or altered message; "
        "the session was ended at once",
    },
    "reason_error": {"de": "Fehler: {detail}", "en": "error: {detail}"},
    "reason_relay_unreachable": {
        "de": "Der Server Ihres Dienstleisters ist nicht erreichbar ({relay}).",
        "en": "The server of your service provider cannot be reached ({relay}).",
    },
    "reason_certificate": {
        "de": "Der Server hat sich nicht mit dem erwarteten Zertifikat ausgewiesen ({relay}).",
        "en": "The server did not show the certificate it should have ({relay}).",
    },
    "advice_relay_unreachable": {
        "de": "Prüfen Sie, ob Ihr PC mit dem Internet verbunden ist und ob die Adresse "
        "stimmt. Geht es dann noch nicht, rufen Sie Ihren Dienstleister an.",
        "en": "Check that your PC is connected to the internet and that the address is "
        "right. If it still does not work, call your service provider.",
    },
    "advice_certificate": {
        "de": "Fahren Sie nicht fort. Rufen Sie Ihren Dienstleister an.",
        "en": "Do not go on. Call your service provider.",
    },
    "advice_call_provider": {
        "de": "Wenn Sie weiter Hilfe brauchen, rufen Sie Ihren Dienstleister an.",
        "en": "If you still need help, call your service provider.",
    },
    "end_title": {"de": "Sitzung beendet", "en": "Session ended"},
    "error_title": {"de": "Keine Verbindung", "en": "No connection"},
    "end_technician_reason": {
        "de": "Angabe des Technikers: {reason}",
        "en": "The technician's words: {reason}",
    },
    "end_duration": {"de": "Dauer der Freigabe: {duration}", "en": "Shared for: {duration}"},
    "end_not_shared": {
        "de": "Ihr Bildschirm wurde nicht geteilt; es fallen keine Kosten an.",
        "en": "Your screen was not shared; there is nothing to pay.",
    },
    "end_cost": {
        "de": "Kosten: {net} netto + {vat} MwSt. ({vat_percent}) = {gross} ({minutes} abgerechnet)",
        "en": "Cost: {net} net + {vat} VAT ({vat_percent}) = {gross} ({minutes} billed)",
    },
    "end_tariff": {"de": "Tarif: {price}", "en": "Tariff: {price}"},
    "end_recording": {
        "de": "Ihre Aufzeichnung dieser Sitzung: {path}",
        "en": "Your recording of this session: {path}",
    },
    "end_not_recorded": {
        "de": "Sie haben diese Sitzung nicht aufgezeichnet (--no-record).",
        "en": "You did not record this session (--no-record).",
    },
    "end_close_hint": {
        "de": "Sie können dieses Fenster jetzt schließen.",
        "en": "You can close this window now.",
    },
    "close": {"de": "Schließen", "en": "Close"},
    "ev_not_recording": {
        "de": "Sie haben entschieden, diese Sitzung nicht aufzuzeichnen (--no-record).",
        "en": "You chose not to record this session (--no-record).",
    },
    "reason_recording_failed": {
        "de": "Ihre Aufzeichnung konnte nicht gespeichert werden (ist der Datenträger voll?); "
        "die Sitzung wurde sofort beendet, der Techniker sieht nichts mehr",
        "en": "your recording could not be saved (is the disk full?); "
        "the session was ended at once, the technician sees nothing more",
    },
    "ev_recording_failed": {
        "de": "Aufzeichnung fehlgeschlagen: {detail}",
        "en": "Recording failed: {detail}",
    },
    "ev_recording_to": {
        "de": "Ihre Aufzeichnung dieser Sitzung: {path}",
        "en": "Your recording of this session: {path}",
    },
}

KEY_NAMES: Final[dict[str, dict[str, str]]] = {
    "Return": {"de": "Eingabe", "en": "Enter"},
    "KP_Enter": {"de": "Eingabe", "en": "Enter"},
    "BackSpace": {"de": "Rücktaste", "en": "Backspace"},
    "Delete": {"de": "Entf", "en": "Delete"},
    "Escape": {"de": "Esc", "en": "Esc"},
    "Control": {"de": "Strg", "en": "Ctrl"},
    "Alt": {"de": "Alt", "en": "Alt"},
    "Super": {"de": "Windows-Taste", "en": "Super"},
    "Shift": {"de": "Umschalt", "en": "Shift"},
    "space": {"de": "Leertaste", "en": "Space"},
    "Tab": {"de": "Tab", "en": "Tab"},
    "ISO_Left_Tab": {"de": "Tab", "en": "Tab"},
    "Up": {"de": "Pfeil hoch", "en": "Up arrow"},
    "Down": {"de": "Pfeil runter", "en": "Down arrow"},
    "Left": {"de": "Pfeil links", "en": "Left arrow"},
    "Right": {"de": "Pfeil rechts", "en": "Right arrow"},
    "Home": {"de": "Pos1", "en": "Home"},
    "End": {"de": "Ende", "en": "End"},
    "Prior": {"de": "Bild hoch", "en": "Page Up"},
    "Page_Up": {"de": "Bild hoch", "en": "Page Up"},
    "Next": {"de": "Bild runter", "en": "Page Down"},
    "Page_Down": {"de": "Bild runter", "en": "Page Down"},
    "Insert": {"de": "Einfg", "en": "Insert"},
    "Caps_Lock": {"de": "Feststelltaste", "en": "Caps Lock"},
    "Num_Lock": {"de": "Num", "en": "Num Lock"},
    "Print": {"de": "Druck", "en": "Print Screen"},
    "Menu": {"de": "Menütaste", "en": "Menu"},
    "Pause": {"de": "Pause", "en": "Pause"},
}


class Texts(Translations):
    """Customer-facing texts in one language."""

    def __init__(self, language: str) -> None:
        super().__init__(_TABLE, language)

    def key_name(self, key: str) -> str:
        names = KEY_NAMES.get(key)
        return names[self.language] if names else key


def all_keys() -> frozenset[str]:
    return frozenset(_TABLE)
