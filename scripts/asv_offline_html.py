#!/usr/bin/env python
"""Make asv's published dashboard work offline: its CDN scripts and styles from local copies.

    python scripts/asv_offline_html.py asv_benches/html     after `asv publish` (asv_run.sh does it)
    python scripts/asv_offline_html.py --check-vendor       the copies match VENDORED (sha256)
    python scripts/asv_offline_html.py --refresh-vendor     fetch them again with `npm pack`

asv 0.6's index.html loads jQuery, flot, flot-orderbars, stupidtable,
blueimp-md5 and Bootstrap 3 from public CDNs; with no network the page shows
only "Can not determine continental origin of swallow". The copies in
asv_benches/vendor/ come from the npm registry's packages at the versions
asv 0.6.6 names in its URLs (VENDORED below; each file's sha256 is checked
before it is published). Two differ from the CDN's bytes, and say so:
flot 0.8.3's npm package ships its plugins unminified (the CDN serves its own
minification of the same source), and stupidtable 1.0.1 was never published
to npm: its npm package, stupid-table-plugin, starts at 1.1.3, which keeps the
API asv calls (``stupidtable()``, ``data-sort``, ``data-sort-value`` and the
``aftertablesort`` event).

The rewrite copies asv_benches/vendor/ to HTML_DIR/vendor/, points every
tag at its copy (with an ``integrity`` hash of the copy) and fails if any
<script> or stylesheet still names an http(s) URL: a newer asv with another
CDN dependency is an error here, not a blank page later.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENDOR_DIR = os.path.join(REPOSITORY, "asv_benches", "vendor")

# (URL in asv 0.6.6's index.html, npm package@version, file in the package,
#  copy under asv_benches/vendor/, sha256 where the copy is byte for byte the
#  CDN's file: checked against the integrity hashes of asv's index.html)
VENDORED = [
    ("https://code.jquery.com/jquery-3.3.1.min.js",
     "jquery@3.3.1", "dist/jquery.min.js", "jquery-3.3.1/jquery.min.js",
     "160a426ff2894252cd7cebbdd6d6b7da8fcd319c65b70468f10b6690c45d02ef"),
    ("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js",
     "flot@0.8.3", "jquery.flot.js", "flot-0.8.3/jquery.flot.js", None),
    ("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js",
     "flot@0.8.3", "jquery.flot.time.js", "flot-0.8.3/jquery.flot.time.js", None),
    ("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js",
     "flot@0.8.3", "jquery.flot.selection.js", "flot-0.8.3/jquery.flot.selection.js", None),
    ("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js",
     "flot@0.8.3", "jquery.flot.categories.js", "flot-0.8.3/jquery.flot.categories.js", None),
    ("https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js",
     "flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js",
     "flot-orderbars-1.0.0/jquery.flot.orderBars.js",
     "39735b4f46f96ff4e082572401f47c55a2767b366fd1d1e821e44a8d830a12bf"),
    ("https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js",
     "stupid-table-plugin@1.1.3", "stupidtable.min.js",
     "stupid-table-plugin-1.1.3/stupidtable.min.js", None),
    ("https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js",
     "blueimp-md5@2.19.0", "js/md5.min.js", "blueimp-md5-2.19.0/md5.min.js",
     "64d7ded388c562e4bde9e58ce205e5fa01b9734fcd434d496eb7b4fbfe9b927d"),
    ("https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js",
     "bootstrap@3.1.1", "dist/js/bootstrap.min.js", "bootstrap-3.1.1/js/bootstrap.min.js",
     "898d05a17f2cfc5120ddcdba47a885c378c0b466f30f0700e502757e24b403a1"),
    ("https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css",
     "bootstrap@3.1.1", "dist/css/bootstrap.min.css", "bootstrap-3.1.1/css/bootstrap.min.css",
     "e9503448692b738dd260fbd7f7cabf2e11f09b600fa97e6eb3a56eba5b1a7e9b"),
]
# Files the copies load themselves (bootstrap.min.css: ../fonts/), and the
# packages' licences.
SUPPORT_FILES = [
    ("bootstrap@3.1.1", f"dist/fonts/glyphicons-halflings-regular.{extension}",
     f"bootstrap-3.1.1/fonts/glyphicons-halflings-regular.{extension}")
    for extension in ("eot", "svg", "ttf", "woff")
] + [
    ("jquery@3.3.1", "LICENSE.txt", "jquery-3.3.1/LICENSE.txt"),
    ("flot@0.8.3", "LICENSE.txt", "flot-0.8.3/LICENSE.txt"),
    ("stupid-table-plugin@1.1.3", "LICENSE", "stupid-table-plugin-1.1.3/LICENSE"),
    ("blueimp-md5@2.19.0", "LICENSE.txt", "blueimp-md5-2.19.0/LICENSE.txt"),
    ("bootstrap@3.1.1", "LICENSE", "bootstrap-3.1.1/LICENSE"),
]
# The sha256 of every file under vendor/, written by --refresh-vendor and
# checked by --check-vendor and before every rewrite.
CHECKSUMS_FILE = os.path.join(VENDOR_DIR, "SHA256SUMS")

_TAG = re.compile(r"<(script|link)\b[^>]*>(\s*</script>)?", re.IGNORECASE)
_URL_ATTRIBUTE = re.compile(r'\b(src|href)="([^"]*)"', re.IGNORECASE)


def _sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def _integrity(path: str) -> str:
    with open(path, "rb") as file:
        return "sha384-" + base64.b64encode(hashlib.sha384(file.read()).digest()).decode()


def vendored_files() -> list[str]:
    files = []
    for root, _, names in os.walk(VENDOR_DIR):
        for name in names:
            path = os.path.relpath(os.path.join(root, name), VENDOR_DIR)
            if path != os.path.basename(CHECKSUMS_FILE):
                files.append(path)
    return sorted(files)


def check_vendor() -> None:
    """Raise SystemExit unless every copy is there with its recorded sha256."""
    try:
        with open(CHECKSUMS_FILE) as file:
            recorded = dict(reversed(line.split(None, 1)) for line in file.read().splitlines())
    except OSError as error:
        raise SystemExit(f"cannot read {CHECKSUMS_FILE}: {error}")
    recorded = {path.strip(): digest for path, digest in recorded.items()}
    expected = {local for _, _, _, local, _ in VENDORED} | {local for _, _, local in SUPPORT_FILES}
    problems = [f"missing: {path}" for path in sorted(expected - set(recorded))]
    for path, digest in sorted(recorded.items()):
        full = os.path.join(VENDOR_DIR, path)
        if not os.path.isfile(full):
            problems.append(f"missing: {path}")
        elif _sha256(full) != digest:
            problems.append(f"changed since it was vendored: {path}")
    for _, package, _, local, digest in VENDORED:
        if digest and recorded.get(local) != digest:
            problems.append(f"{local} is not the file the CDN serves for {package}")
    if problems:
        raise SystemExit("asv_benches/vendor/ is not as vendored (run "
                         "scripts/asv_offline_html.py --refresh-vendor):\n  " + "\n  ".join(problems))


def refresh_vendor() -> None:
    """Fetch every file again from the npm registry (npm pack) and record its sha256."""
    wanted = {}
    for _, package, member, local, _ in VENDORED:
        wanted.setdefault(package, []).append((member, local))
    for package, member, local in SUPPORT_FILES:
        wanted.setdefault(package, []).append((member, local))
    with tempfile.TemporaryDirectory() as scratch:
        for package, files in wanted.items():
            tarball = subprocess.run(["npm", "pack", "--silent", package], cwd=scratch, check=True,
                                     capture_output=True, text=True).stdout.split()[-1]
            with tarfile.open(os.path.join(scratch, tarball)) as archive:
                for member, local in files:
                    source = archive.extractfile(f"package/{member}")
                    if source is None:
                        raise SystemExit(f"{package} has no {member}")
                    target = os.path.join(VENDOR_DIR, local)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as file:
                        file.write(source.read())
    with open(CHECKSUMS_FILE, "w") as file:
        for path in vendored_files():
            file.write(f"{_sha256(os.path.join(VENDOR_DIR, path))}  {path}\n")
    check_vendor()


def rewrite_page(text: str) -> tuple[str, list[str]]:
    """``text`` with every VENDORED URL pointing at vendor/; also the
    http(s) URLs of <script> and <link rel=stylesheet> tags left over."""
    local_of = {url: local for url, _, _, local, _ in VENDORED}
    left_over = []

    def replace(match):
        tag = match.group(0)
        url_match = _URL_ATTRIBUTE.search(tag)
        if not url_match:
            return tag
        url = url_match.group(2)
        if url in local_of:
            local = local_of[url]
            integrity = _integrity(os.path.join(VENDOR_DIR, local))
            if match.group(1).lower() == "script":
                return (f'<script src="vendor/{local}" integrity="{integrity}" '
                        f'onerror="js_load_failure()"></script>')
            return f'<link rel="stylesheet" href="vendor/{local}" integrity="{integrity}">'
        is_stylesheet = match.group(1).lower() == "script" or "stylesheet" in tag.lower()
        if url.startswith(("http://", "https://", "//")) and is_stylesheet:
            left_over.append(url)
        return tag

    return _TAG.sub(replace, text), left_over


def make_offline(html_dir: str) -> list[str]:
    """Rewrite every .html page of html_dir; returns the pages changed."""
    check_vendor()
    if not os.path.isfile(os.path.join(html_dir, "index.html")):
        raise SystemExit(f"{html_dir} has no index.html: run asv publish first")
    target = os.path.join(html_dir, "vendor")
    if os.path.isdir(target):
        shutil.rmtree(target)
    shutil.copytree(VENDOR_DIR, target)
    changed, problems = [], []
    for name in sorted(os.listdir(html_dir)):
        if not name.endswith(".html"):
            continue
        path = os.path.join(html_dir, name)
        with open(path, encoding="utf-8") as file:
            text = file.read()
        rewritten, left_over = rewrite_page(text)
        problems += [f"{name}: {url}" for url in left_over]
        if rewritten != text:
            with open(path, "w", encoding="utf-8") as file:
                file.write(rewritten)
            changed.append(name)
    if problems:
        raise SystemExit("these pages still load scripts or styles from the network (a newer "
                         "asv? add them to VENDORED in scripts/asv_offline_html.py):\n  "
                         + "\n  ".join(problems))
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", help="asv's html_dir, after asv publish")
    parser.add_argument("--check-vendor", action="store_true")
    parser.add_argument("--refresh-vendor", action="store_true")
    arguments = parser.parse_args(argv)
    if arguments.refresh_vendor:
        refresh_vendor()
    if arguments.check_vendor:
        check_vendor()
    if arguments.html_dir:
        changed = make_offline(arguments.html_dir)
        print(f"offline: {', '.join(changed) or 'no page needed'} rewritten to load "
              f"{len(VENDORED)} files from {os.path.join(arguments.html_dir, 'vendor')}")
    elif not (arguments.refresh_vendor or arguments.check_vendor):
        parser.error("give HTML_DIR, --check-vendor or --refresh-vendor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
