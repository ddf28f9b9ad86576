"""A Wayland-like desk for tests: a private session bus, PipeWire and WirePlumber, the real
xdg-desktop-portal front end (Debian's) and python-dbusmock backends for ScreenCast and
RemoteDesktop (templates/), each a child of the test, found ready by the event that says
so (a bus name owned, a socket there), stopped by its PID.

Needs apt: dbus-daemon, pipewire, pipewire-bin, wireplumber, xdg-desktop-portal,
python3-dbusmock (run by Debian's /usr/bin/python3, which has dbus-python and GLib).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
PORTAL = "/usr/libexec/xdg-desktop-portal"
SYSTEM_PYTHON = "/usr/bin/python3"
MOCK_BUS_NAME = "org.freedesktop.impl.portal.Test"
MOCK_PATH = "/org/freedesktop/portal/desktop"
READY_SECONDS = 20.0
REQUIRED = ("dbus-daemon", "pipewire", "wireplumber", PORTAL)
BARE_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def missing_tools() -> list[str]:
    """What this machine lacks for the desk (the tests fail then, saying so: .ci/run installs it)."""
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import dbusmock, dbus, gi"], capture_output=True, check=False
    ) if os.path.exists(SYSTEM_PYTHON) else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        missing.append("python3-dbusmock")
    try:
        import jeepney  # noqa: F401
    except ImportError:
        missing.append("jeepney (pip install -e '.[wayland]')")
    return missing


class Desk:
    """Start with `start()`, end with `stop()`; `env` is what a process on this desk sees."""

    def __init__(self) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="fernwartung-desk-"))
        self.runtime = self._directory / "runtime"
        self.runtime.mkdir(mode=0o700)
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[Any] = []
        self.env: dict[str, str] = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
        }
        self.env.update(
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_CURRENT_DESKTOP="fernwartung-test",
            XDG_SESSION_TYPE="wayland",
            PIPEWIRE_RUNTIME_DIR=str(self.runtime),
        )
        self._router: Any = None

    # -- services -----------------------------------------------------------------------

    def start(self, *, portal: bool = True, **parameters: object) -> None:
        """The bus, PipeWire, WirePlumber, and (with `portal`) the mock backends with
        `parameters` and the portal front end."""
        self.start_bus()
        self.spawn("pipewire", ["pipewire"])
        self._wait_for(lambda: (self.runtime / "pipewire-0").exists(), "PipeWire's socket")
        self.spawn("wireplumber", ["wireplumber"])
        if portal:
            self.start_portal(**parameters)

    def start_bus(self, *, activation: bool = True) -> None:
        """The session bus; without `activation` it starts no service on demand (no
        portal appears unless a test starts one)."""
        address = f"unix:path={self.runtime / 'bus'}"
        if activation:
            config = ["--session"]
        else:
            bare = self._directory / "bus.conf"
            bare.write_text(BARE_BUS_CONFIG)
            config = [f"--config-file={bare}"]
        process = self.spawn(
            "dbus-daemon",
            ["dbus-daemon", *config, "--nofork", "--print-address=1", f"--address={address}"],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()  # printed once it listens
        if not line:
            raise RuntimeError("dbus-daemon did not start")
        self.env["DBUS_SESSION_BUS_ADDRESS"] = line
        from jeepney.io.threading import DBusRouter, open_dbus_connection

        self._router = DBusRouter(open_dbus_connection(line))

    def start_portal_without_backends(self) -> None:
        """The portal front end alone, as on a desktop that has no implementation of the
        screen-sharing portals: it offers neither ScreenCast nor RemoteDesktop."""
        empty = self._directory / "no-portals"
        empty.mkdir(exist_ok=True)
        self.env["XDG_DESKTOP_PORTAL_DIR"] = str(empty)
        self.spawn("xdg-desktop-portal", [PORTAL, "--verbose", "--replace"])
        self.wait_for_name("org.freedesktop.portal.Desktop")

    def start_portal(self, **parameters: object) -> None:
        portals = self._directory / "portals"
        portals.mkdir(exist_ok=True)
        (portals / "test.portal").write_text(
            "[portal]\n"
            f"DBusName={MOCK_BUS_NAME}\n"
            "Interfaces=org.freedesktop.impl.portal.ScreenCast;"
            "org.freedesktop.impl.portal.RemoteDesktop;\n"
            "UseIn=fernwartung-test\n"
        )
        self.env["XDG_DESKTOP_PORTAL_DIR"] = str(portals)
        self.spawn(
            "dbusmock",
            [SYSTEM_PYTHON, "-m", "dbusmock", "--template", str(TEMPLATES / "screencast.py"),
             "-p", json.dumps(parameters)],
        )  # fmt: skip
        self.wait_for_name(MOCK_BUS_NAME)
        self.mock_call("AddTemplate", "sa{sv}", (str(TEMPLATES / "remotedesktop.py"), {}))
        self.spawn("xdg-desktop-portal", [PORTAL, "--verbose", "--replace"])
        self.wait_for_name("org.freedesktop.portal.Desktop")

    def spawn(self, name: str, command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        log = open(self._directory / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        self._logs.append(log)
        options.setdefault("stdout", log)
        process = subprocess.Popen(command, env=self.env, stderr=log, **options)
        self._processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self._directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_for(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while not ready():
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} ended before {what} was there")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not appear")
            time.sleep(0.02)

    def wait_for_name(self, name: str) -> None:
        """Until `name` has an owner on the bus (NameOwnerChanged, then NameHasOwner)."""
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus

        rule = MatchRule(type="signal", interface="org.freedesktop.DBus", member="NameOwnerChanged")
        rule.add_arg_condition(0, name)
        with self._router.filter(rule, bufsize=8) as changes:
            self._router.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
            reply = self._router.send_and_get_reply(message_bus.NameHasOwner(name), timeout=5)
            if not reply.body[0]:
                changes.get(timeout=READY_SECONDS)

    # -- the mock portal backends ------------------------------------------------------

    def mock_call(self, method: str, signature: str = "", args: tuple[Any, ...] = (),
                  path: str = MOCK_PATH) -> tuple[Any, ...]:  # fmt: skip
        from jeepney import DBusAddress, MessageType, new_method_call

        address = DBusAddress(path, MOCK_BUS_NAME, "org.freedesktop.DBus.Mock")
        reply = self._router.send_and_get_reply(
            new_method_call(address, method, signature, args), timeout=10
        )
        if reply.header.message_type is MessageType.error:
            raise RuntimeError(f"mock {method}: {reply.body}")
        return tuple(reply.body)

    def calls(self, method: str, path: str = MOCK_PATH) -> list[tuple[Any, ...]]:
        """The arguments of each call of `method` the mock backend got, oldest first (the
        variants unpacked)."""
        (entries,) = self.mock_call("GetMethodCalls", "s", (method,), path)
        return [tuple(_plain(value) for value in args) for _time, args in entries]

    def clear_calls(self) -> None:
        self.mock_call("ClearCalls")

    def stop(self) -> None:
        if self._router is not None:
            with contextlib.suppress(Exception):
                self._router.close()
                self._router.conn.close()
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self._processes):
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self._logs:
            log.close()
        shutil.rmtree(self._directory, ignore_errors=True)


def _plain(value: Any) -> Any:
    """A D-Bus variant (signature, value) as jeepney gives it, unpacked."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return _plain(value[1])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
