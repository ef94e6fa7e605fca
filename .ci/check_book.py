"""Check the built book in headless Chromium, as a reader would see it.

For the front page and every chapter page (each notebook in _toc.yml): the page renders in Chromium
(its DOM after scripts ran holds the chapter's title), no output holds a Python
traceback or an error, and every chapter that draws with matplotlib shows its
figures (the images exist and are not empty). A screenshot of each page is
written to the --screenshots folder.

Usage: python .ci/check_book.py _build/html --screenshots ci-artifacts/screenshots
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--virtual-time-budget=4000"]
ERROR_MARKERS = ["Traceback (most recent call last)", "Error Traceback", "---------------------------------------------------------------------------"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no Chromium found: install Debian's `chromium` package (apt-get install chromium)")


def chapters() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return [toc["root"]] + [f for f in files if f.startswith("notebooks/")]


def uses_matplotlib(notebook: Path) -> bool:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return "plt.show()" in code or "matplotlib" in code


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the CI log to the verdicts
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def run_chrome(args: list[str], profile_dir: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *CHROME_FLAGS, f"--user-data-dir={profile_dir}", *args],
                          capture_output=True, text=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("html", type=Path)
    parser.add_argument("--screenshots", type=Path, default=Path("ci-artifacts/screenshots"))
    args = parser.parse_args()
    if not (args.html / "index.html").is_file():
        sys.exit(f"{args.html}/index.html missing: run `make book` first")
    args.screenshots.mkdir(parents=True, exist_ok=True)
    server, port = serve(args.html)
    failures: list[str] = []
    pages = chapters()
    try:
        with tempfile.TemporaryDirectory() as profile_dir:
            for page in pages:
                url = f"http://127.0.0.1:{port}/{page}.html"
                html_file = args.html / f"{page}.html"
                if not html_file.is_file():
                    failures.append(f"{page}: {html_file} was not built")
                    print(f"{page:40s} FAIL: not built")
                    continue
                dom = run_chrome(["--dump-dom", url], profile_dir).stdout
                shot = args.screenshots / (page.replace("/", "_") + ".png")
                run_chrome([f"--screenshot={shot}", "--window-size=1280,2400", url], profile_dir)
                problems = []
                if "<h1" not in dom:
                    problems.append("no <h1> title rendered")
                for marker in ERROR_MARKERS:
                    if marker in dom:
                        problems.append(f"output holds {marker!r}")
                if re.search(r'class="[^"]*(output stderr|output_error|ansi-red-fg)', dom):
                    problems.append("an error or stderr output is shown")
                images = re.findall(r'<img[^>]+src="([^"]+_images/[^"]+)"', dom)
                nb = ROOT / f"{page}.ipynb"
                if nb.is_file() and uses_matplotlib(nb):
                    if not images:
                        problems.append("draws with matplotlib but shows no figure")
                    for src in images:
                        img = (html_file.parent / src).resolve()
                        if not img.is_file() or img.stat().st_size < 1000:
                            problems.append(f"figure {src} missing or empty")
                if not shot.is_file() or shot.stat().st_size < 5000:
                    problems.append("screenshot missing or blank")
                status = "ok" if not problems else "FAIL: " + "; ".join(problems)
                print(f"{page:40s} {len(images):2d} figure(s)  {status}")
                failures += [f"{page}: {p}" for p in problems]
    finally:
        server.shutdown()
    print(f"screenshots in {args.screenshots}")
    if failures:
        print(f"{len(failures)} problem(s) in the built book", file=sys.stderr)
        return 1
    print(f"{len(pages)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
