"""The asv helpers in scripts/ (asv_machine, asv_history, asv_offline_html) and the
overlay environment's plugin, without running a benchmark (the slow ones are in
tests/test_asv_slow.py)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPOSITORY, "scripts")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


asv_machine = _load("asv_machine", os.path.join(SCRIPTS, "asv_machine.py"))
asv_history = _load("asv_history", os.path.join(SCRIPTS, "asv_history.py"))
asv_offline_html = _load("asv_offline_html", os.path.join(SCRIPTS, "asv_offline_html.py"))


# ---------------------------------------------------------------------------
# machine names
# ---------------------------------------------------------------------------
def test_machine_name_carries_the_cpu_model_and_isa(monkeypatch):
    monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
    monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
    import llvmlite.binding as llvm

    name = asv_machine.machine_name()
    assert re.fullmatch(r"[a-z0-9-]+", name), name
    assert llvm.get_host_cpu_name() in name
    features = llvm.get_host_cpu_features()
    expected_isa = ("avx512" if features.get("avx512f") else "avx2" if features.get("avx2")
                    else "avx" if features.get("avx") else None)
    if expected_isa:
        assert name.endswith("-" + expected_isa), name
    model = asv_machine._cpuinfo().get("model name")
    if model:
        assert asv_machine._slug(model.split()[0]) in name
    assert name in asv_machine.main.__globals__["machine_name"]()


def test_emulated_avx2_gets_a_machine_of_its_own(monkeypatch):
    monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
    host = asv_machine.machine_name()
    monkeypatch.setenv("NUMBA_CPU_NAME", "haswell")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+64bit,+avx,+avx2,+fma,-avx512f")
    emulated = asv_machine.machine_name()
    assert emulated.endswith("-as-haswell-avx2")
    assert emulated != host
    assert "emulating LLVM target haswell, avx2" in asv_machine.description()


def test_isa_of_features():
    assert asv_machine.widest_isa({"avx512f": True, "avx2": True}) == "avx512"
    assert asv_machine.widest_isa({"avx512f": False, "avx2": True}) == "avx2"
    assert asv_machine.widest_isa(asv_machine._parse_features("+avx,-avx2")) == "avx"


# ---------------------------------------------------------------------------
# history: which commits
# ---------------------------------------------------------------------------
def _git(repo, *arguments):
    return subprocess.run(["git", "-C", repo, *arguments], check=True, capture_output=True,
                          text=True).stdout.strip()


def _commit(repo, message, files=()):
    for path in files:
        full = os.path.join(repo, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "a") as file:
            file.write(message + "\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
         "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def test_history_takes_the_newest_first_parent_commits_of_main_holding_the_suite(tmp_path,
                                                                                 monkeypatch):
    repo = str(tmp_path / "repo")
    os.makedirs(repo)
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "before the suite", ["fastnn/a.py"])
    first = _commit(repo, "suite", [asv_history.SUITE_FILE])
    second = _commit(repo, "change", ["fastnn/a.py"])
    _git(repo, "checkout", "-q", "-b", "side", first)
    side = _commit(repo, "side change", ["fastnn/b.py"])
    _git(repo, "checkout", "-q", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "merge", "-q", "--no-ff", "side",
         "-m", "merge side")
    merge = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "-b", "feature")
    _commit(repo, "not on main", ["fastnn/c.py"])
    monkeypatch.chdir(repo)
    assert asv_history.commits_holding_suite(2) == [merge, second]
    # only the commits that hold the suite, however many were asked for;
    # the merged branch's own commit is not a state of main
    assert asv_history.commits_holding_suite(10) == [merge, second, first]
    assert side not in asv_history.commits_holding_suite(10)
    result = subprocess.run([sys.executable, os.path.join(SCRIPTS, "asv_history.py"),
                             "--count", "2"], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [merge, second]


def test_history_without_a_main_branch_says_so(tmp_path, monkeypatch):
    repo = str(tmp_path / "repo")
    os.makedirs(repo)
    _git(repo, "init", "-q", "-b", "trunk")
    _commit(repo, "suite", [asv_history.SUITE_FILE])
    monkeypatch.chdir(repo)
    result = subprocess.run([sys.executable, os.path.join(SCRIPTS, "asv_history.py"),
                             "--count", "2"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "no branch 'main'" in result.stderr


# ---------------------------------------------------------------------------
# the offline dashboard
# ---------------------------------------------------------------------------
def _asv_www():
    asv = pytest.importorskip("asv")
    return os.path.join(os.path.dirname(asv.__file__), "www")


def test_vendored_copies_are_as_recorded():
    asv_offline_html.check_vendor()


def test_every_cdn_url_of_asvs_page_is_vendored():
    with open(os.path.join(_asv_www(), "index.html")) as file:
        page = file.read()
    rewritten, left_over = asv_offline_html.rewrite_page(page)
    assert left_over == []
    assert not re.search(r'<(script|link)\b[^>]*\b(src|href)="(https?:)?//', rewritten)
    for local in re.findall(r'(?:src|href)="vendor/([^"]+)"', rewritten):
        assert os.path.isfile(os.path.join(asv_offline_html.VENDOR_DIR, local)), local
    assert rewritten.count('src="vendor/') == len(asv_offline_html.VENDORED) - 1  # + 1 stylesheet
    assert 'href="vendor/bootstrap-3.1.1/css/bootstrap.min.css"' in rewritten


def test_copies_that_asv_pins_by_hash_are_the_cdns_files():
    """Where VENDORED records a sha256, the copy is the very file whose
    digest asv's index.html pins (its integrity attribute)."""
    import base64
    import hashlib

    with open(os.path.join(_asv_www(), "index.html")) as file:
        page = file.read()
    pinned = 0
    for url, _, _, local, digest in asv_offline_html.VENDORED:
        if digest is None:
            continue
        match = re.search(re.escape(url) + r'" integrity="(sha256|sha512)-([^"]+)"', page)
        assert match, url
        with open(os.path.join(asv_offline_html.VENDOR_DIR, local), "rb") as file:
            data = file.read()
        pinned_digest = hashlib.new(match.group(1), data).digest()
        assert base64.b64encode(pinned_digest).decode() == match.group(2)
        assert hashlib.sha256(data).hexdigest() == digest
        pinned += 1
    assert pinned == 5


def test_make_offline_rewrites_a_published_page_and_copies_the_assets(tmp_path):
    html = tmp_path / "html"
    shutil.copytree(_asv_www(), html)
    changed = asv_offline_html.make_offline(str(html))
    assert "index.html" in changed
    assert (html / "vendor" / "jquery-3.3.1" / "jquery.min.js").is_file()
    assert (html / "vendor" / "bootstrap-3.1.1" / "fonts" /
            "glyphicons-halflings-regular.woff").is_file()
    text = (html / "index.html").read_text()
    assert "cdnjs" not in text and "jsdelivr" not in text and "code.jquery.com" not in text
    # a second publish over the rewritten page changes nothing more
    assert asv_offline_html.make_offline(str(html)) == []


def test_an_unknown_cdn_dependency_is_an_error_not_a_blank_page(tmp_path):
    html = tmp_path / "html"
    shutil.copytree(_asv_www(), html)
    index = html / "index.html"
    index.write_text(index.read_text().replace(
        "</head>", '<script src="https://cdn.example.org/new-plugin.js"></script></head>'))
    with pytest.raises(SystemExit, match="new-plugin.js"):
        asv_offline_html.make_offline(str(html))


def test_a_changed_copy_is_refused(tmp_path, monkeypatch):
    vendor = tmp_path / "vendor"
    shutil.copytree(asv_offline_html.VENDOR_DIR, vendor)
    (vendor / "jquery-3.3.1" / "jquery.min.js").write_text("alert('not jquery')")
    monkeypatch.setattr(asv_offline_html, "VENDOR_DIR", str(vendor))
    monkeypatch.setattr(asv_offline_html, "CHECKSUMS_FILE", str(vendor / "SHA256SUMS"))
    with pytest.raises(SystemExit, match="jquery.min.js"):
        asv_offline_html.check_vendor()


# ---------------------------------------------------------------------------
# the configuration and the overlay environment's plugin
# ---------------------------------------------------------------------------
def _conf():
    text = open(os.path.join(REPOSITORY, "asv_benches", "asv.conf.json")).read()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE))


def test_the_configuration_uses_the_overlay_plugin_and_never_the_index():
    conf = _conf()
    assert conf["environment_type"] == "overlay"
    assert conf["plugins"] == [".fastnn_asv_env"]
    for command in conf["build_command"] + conf["install_command"]:
        if "pip " in command:
            assert "--no-index" in command and "--no-deps" in command, command


def test_overlay_site_directories_are_the_running_interpreters():
    pytest.importorskip("asv")
    sys.path.insert(0, os.path.join(REPOSITORY, "asv_benches"))
    try:
        plugin = importlib.import_module("fastnn_asv_env")
    finally:
        sys.path.pop(0)
    import numpy

    directories = plugin.active_site_directories()
    assert any(os.path.realpath(numpy.__file__).startswith(directory + os.sep)
               for directory in directories)
    assert plugin.OverlayEnvironment.matches(plugin.running_python_version())
    assert not plugin.OverlayEnvironment.matches("2.7")
