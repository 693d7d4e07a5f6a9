"""A minimal stand-in firmware for the update tests: an `appliance` package whose `serve` answers /healthz
with its version and whose `health --json` checks that answer. `behaviour` makes a bad release:
"unhealthy" (its health check fails: its health photo screens wrong), "crash" (`serve` exits at once, every
start: a crash loop). The real firmware is bundled and health-checked in test_real_bundle.py.
"""

from __future__ import annotations

from pathlib import Path

MAIN = r'''
import json, os, re, sys, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION, BEHAVIOUR = {version!r}, {behaviour!r}


def port():
    text = open(os.environ["APPLIANCE_CONFIG"]).read()
    return int(re.search(r"(?m)^port\s*=\s*(\d+)", text).group(1))


class Healthz(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"ok": True, "software_version": VERSION}}).encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve():
    if BEHAVIOUR == "crash":
        print("fake firmware: crashing at start", file=sys.stderr)
        return 1
    ThreadingHTTPServer(("127.0.0.1", port()), Healthz).serve_forever()
    return 0


def health():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{{port()}}/healthz", timeout=3) as answer:
            kiosk = json.loads(answer.read())
        checks = {{"kiosk": {{"ok": kiosk.get("software_version") == VERSION, "software_version":
                   kiosk.get("software_version")}}}}
    except OSError as exc:
        checks = {{"kiosk": {{"ok": False, "problem": f"the kiosk does not answer ({{exc}})"}}}}
    checks["photo"] = ({{"ok": True}} if BEHAVIOUR != "unhealthy" else
                       {{"ok": False,
                         "problem": "referable_01_right.jpg: not referable (score 0.1), expected referable"}})
    report = {{"ok": all(c["ok"] for c in checks.values()), "software_version": VERSION, **checks}}
    print(json.dumps(report))
    return 0 if report["ok"] else 1


command = sys.argv[1] if len(sys.argv) > 1 else ""
sys.exit(serve() if command == "serve" else health() if command == "health" else 2)
'''


def write_fake_app(folder: Path, version: str, behaviour: str = "good") -> Path:
    """A folder holding the fake `appliance` package (what `appliance bundle build --app DIR` takes)."""
    package = folder / "appliance"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(f'__version__ = "{version}"\n')
    (package / "__main__.py").write_text(MAIN.format(version=version, behaviour=behaviour))
    return folder
