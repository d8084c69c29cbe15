#!/usr/bin/env python
"""Open the published asv dashboard in headless Chromium, offline, and report what it drew.

    python scripts/asv_dashboard_check.py [HTML_DIR] [--benchmark NAME ...] [--screenshot PNG]

HTML_DIR (default asv_benches/html) is served on 127.0.0.1; Chromium may
reach no other host (--host-resolver-rules maps every name but 127.0.0.1 to
nothing) and logs every request it makes (--log-net-log). For each
benchmark (default: bench_training.Throughput.track_samples_per_second and
track_gflops) a probe page loads the dashboard's graph of it in a frame,
waits for flot to draw, and reads back the plot's series: their labels and
how many commits each has a value for. Prints one JSON object:

    {"graphs": {benchmark: {"error_page": bool, "series": {label: points}}},
     "requests_off_host": [URLs the page asked for],
     "browser_requests_off_host": [URLs Chromium's own services asked for],
     "chromium": version}

and exits 1 unless every graph has a series for each of W1-W4 with values at
``--min-commits`` (default 2) commits or more, the error page never showed
and the page asked for nothing off 127.0.0.1 (Chromium's
own update and time checks, which no flag silences entirely, are listed
apart; they fail here too). ``--screenshot`` also saves a PNG of the
first graph. Needs Chromium (Debian: apt-get install chromium); started as
COORDINATION/the env notes say: headless, no sandbox (root), no GPU, no
background networking.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BENCHMARKS = ["bench_training.Throughput.track_samples_per_second",
                      "bench_training.Throughput.track_gflops"]
WORKLOADS = ["W1", "W2", "W3", "W4"]
PROBE_PATH = "/__dashboard_probe.html"

# Loads the dashboard's graph of one benchmark in a frame (same origin, so
# its flot plot is readable), polls until the plot holds data or the page
# gave up, then writes the result into <pre id="result"> for --dump-dom.
PROBE_PAGE = """<!DOCTYPE html>
<html><body>
<pre id="result">pending</pre>
<iframe id="dashboard" style="width:1280px;height:900px" src="index.html#%(hash)s"></iframe>
<script>
var started = Date.now();
function finish(result) { document.getElementById('result').textContent = JSON.stringify(result); }
function poll() {
  var frame = document.getElementById('dashboard').contentWindow;
  var result = {error_page: false, series: {}, location: '', title: ''};
  try {
    result.location = String(frame.location.href);
    result.title = frame.document.title;
    if (/error\\.html/.test(result.location) ||
        /continental origin of swallow/i.test(frame.document.body ? frame.document.body.innerText : '')) {
      result.error_page = true;
      return finish(result);
    }
    var plot = frame.jQuery && frame.jQuery('#main-graph').data('plot');
    if (plot) {
      plot.getData().forEach(function (series) {
        var points = series.data.filter(function (p) { return p && p[1] !== null && isFinite(p[1]); });
        result.series[series.label || ''] = points.length;
      });
      if (Object.keys(result.series).length) { return finish(result); }
    }
  } catch (error) { result.exception = String(error); }
  if (Date.now() - started > %(timeout_ms)d) { result.timed_out = true; return finish(result); }
  setTimeout(poll, 200);
}
window.addEventListener('load', function () { setTimeout(poll, 200); });
</script>
</body></html>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    probe_pages: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = urllib.parse.urlparse(self.path).path
        if path == PROBE_PATH:
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            body = self.probe_pages[query["bench"][0]].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *arguments):
        pass


def _chromium_command(chromium, user_data_dir, net_log):
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps",
            f"--user-data-dir={user_data_dir}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--log-net-log={net_log}", "--window-size=1280,900"]


def _off_host_requests(net_log) -> tuple[list[str], list[str]]:
    """(URLs off 127.0.0.1 that the page asked for, those Chromium asked for
    itself), from the net log: a request's ``initiator`` is the origin of
    the page that made it; Chromium's own services (update checks, time
    sync) have none. Neither reaches anything here (--host-resolver-rules)."""
    try:
        with open(net_log, errors="replace") as file:
            events = json.load(file).get("events", [])
    except (OSError, ValueError):
        return [], []
    page, browser = set(), set()
    for event in events:
        parameters = event.get("params") or {}
        url = parameters.get("url", "")
        if (not url or re.match(r"(https?|wss?)://127\.0\.0\.1[:/]", url)
                or url.startswith(("data:", "about:", "chrome:", "blob:"))):
            continue
        initiator = str(parameters.get("initiator", ""))
        if initiator.startswith("http://127.0.0.1"):
            page.add(url)
        elif url not in page:
            browser.add(url)
    return sorted(page), sorted(browser - page)


def check(html_dir, benchmarks, min_commits=2, screenshot=None, timeout=90):
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    html_dir = os.path.abspath(html_dir)
    if not os.path.isfile(os.path.join(html_dir, "index.html")):
        raise SystemExit(f"{html_dir} has no index.html: publish first")
    _Handler.probe_pages = {name: PROBE_PAGE % {"hash": name, "timeout_ms": (timeout - 15) * 1000}
                            for name in benchmarks}
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=html_dir))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    report = {"graphs": {}, "requests_off_host": [], "browser_requests_off_host": [],
              "chromium": subprocess.run([chromium, "--version"], capture_output=True,
                                         text=True).stdout.strip()}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for index, name in enumerate(benchmarks):
                net_log = os.path.join(scratch, f"net-{index}.json")
                url = f"http://127.0.0.1:{port}{PROBE_PATH}?bench={urllib.parse.quote(name)}"
                command = _chromium_command(chromium, os.path.join(scratch, f"profile-{index}"),
                                            net_log)
                dom = subprocess.run(command + ["--virtual-time-budget=60000", "--dump-dom", url],
                                     capture_output=True, text=True, timeout=timeout).stdout
                match = re.search(r'<pre id="result">(.*?)</pre>', dom, re.DOTALL)
                text = match.group(1) if match else ""
                text = (text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&amp;", "&"))
                try:
                    report["graphs"][name] = json.loads(text)
                except ValueError:
                    report["graphs"][name] = {"error_page": None, "series": {},
                                              "unreadable": text[:200]}
                page, browser = _off_host_requests(net_log)
                report["requests_off_host"] += page
                report["browser_requests_off_host"] += browser
            if screenshot:
                command = _chromium_command(chromium, os.path.join(scratch, "profile-shot"),
                                            os.path.join(scratch, "net-shot.json"))
                subprocess.run(command + ["--virtual-time-budget=30000",
                                          f"--screenshot={os.path.abspath(screenshot)}",
                                          f"http://127.0.0.1:{port}/index.html#{benchmarks[0]}"],
                               capture_output=True, timeout=timeout, check=True)
                page, browser = _off_host_requests(os.path.join(scratch, "net-shot.json"))
                report["requests_off_host"] += page
                report["browser_requests_off_host"] += browser
    finally:
        server.shutdown()
        server.server_close()
    for key in ("requests_off_host", "browser_requests_off_host"):
        report[key] = sorted(set(report[key]))
    problems = []
    for name, graph in report["graphs"].items():
        if graph.get("error_page") is not False:
            problems.append(f"{name}: the error page showed or the page could not be read")
        for workload in WORKLOADS:
            points = [count for label, count in graph.get("series", {}).items()
                      if re.search(rf"\b{workload}\b", label)]
            if not points or max(points) < min_commits:
                problems.append(f"{name}: {workload} drawn from {max(points, default=0)} commits")
    if report["requests_off_host"]:
        problems.append(f"the page asked for URLs off 127.0.0.1: {report['requests_off_host']}")
    report["problems"] = problems
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", default=os.path.join(REPOSITORY, "asv_benches", "html"))
    parser.add_argument("--benchmark", action="append", help="benchmark graph to open (repeatable)")
    parser.add_argument("--min-commits", type=int, default=2)
    parser.add_argument("--screenshot", help="also save a PNG of the first graph here")
    arguments = parser.parse_args(argv)
    report = check(arguments.html_dir, arguments.benchmark or DEFAULT_BENCHMARKS,
                   arguments.min_commits, arguments.screenshot)
    print(json.dumps(report, indent=1))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
