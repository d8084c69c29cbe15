"""asv environment type ``overlay``: each commit's fastnn over the active environment.

asv loads this module as a plugin (``"plugins": [".fastnn_asv_env"]`` in
asv.conf.json; asv imports it from the directory it runs in, asv_benches/).
See README.md here, "The environment", for why it exists. In short: asv's own
``virtualenv`` environments either download numpy and numba (impossible
without a package index, and a different numpy/numba than the user's) or,
with ``--system-site-packages``, see the *base* interpreter's packages, which
in a venv (the README's setup) hold neither numpy, numba nor wheel.

An ``overlay`` environment is

* a stdlib ``venv`` made from the interpreter that runs asv, without pip of
  its own (``--without-pip``) and without fastnn;
* one ``.pth`` file that appends the running interpreter's site-packages
  directories to the environment's ``sys.path``, *after* its own
  site-packages. numpy, numba, scikit-learn, pip, setuptools, wheel,
  asv_runner and pympler come from there, unchanged: nothing is downloaded,
  and every commit is measured with the numpy/numba the user has;
* each benchmarked commit's fastnn in a directory of its own,
  ``commits/<hash>/`` (``pip install --target``, install_command in
  asv.conf.json), and a second ``.pth`` hook that puts the directory of the
  commit asv is running (``$ASV_COMMIT``) first on ``sys.path`` and its
  compiled kernels in ``commits/<hash>/.fastnn-cache`` (FASTNN_CACHE_DIR).

A commit is installed, and its kernels compiled, once: going back to it
(``compare`` interleaves two commits, round after round) costs nothing, and
no commit ever loads another's compiled code.

The directories of the active environment are added as plain paths, so the
``.pth`` files inside them are not run: an editable install of fastnn there
(whose hook is such a file) stays invisible, and the benchmarks check that
fastnn was imported from the commit's directory (``benchmarks/_common.py``).

The environment remembers which interpreter and directories it was made for
(``asv-overlay.json``) and is made anew when asv runs from another one.
Matrix requirements (``"req"`` in asv.conf.json's matrix, none today) are
installed into the environment with pip, shadowing the active ones; they need
a package index.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys

from asv import environment, util
from asv.console import log

# What asv and fastnn's build and install commands import inside the
# environment; all of them are in the "bench" extra of pyproject.toml.
REQUIRED_MODULES = ("pip", "setuptools", "wheel", "asv_runner", "pympler", "numpy", "numba")

# Bumped when what _setup writes changes: older environments are made anew.
LAYOUT = 2
_OVERLAY_FILE = "asv-overlay.json"
_OVERLAY_PTH = "_fastnn_asv_overlay.pth"
_COMMIT_PTH = "_fastnn_asv_commit.pth"
_COMMIT_HOOK = "_fastnn_asv_commit.py"
COMMITS_DIR = "commits"
_INSTALLED_MARKER = ".asv-installed"

# Runs at the start of every interpreter of the environment (imported by
# _COMMIT_PTH): asv sets ASV_COMMIT to the commit it installs or measures.
_COMMIT_HOOK_SOURCE = '''\
"""The fastnn of the commit asv is running ($ASV_COMMIT) first on sys.path,
its compiled kernels beside it (asv_benches/fastnn_asv_env.py wrote this)."""
import os
import sys

_commit = os.environ.get("ASV_COMMIT")
if _commit:
    _directory = os.path.join({commits_dir!r}, _commit)
    if os.path.isdir(_directory):
        sys.path.insert(0, _directory)
        os.environ["FASTNN_CACHE_DIR"] = os.path.join(_directory, ".fastnn-cache")
'''


def running_python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def active_site_directories() -> list[str]:
    """The site-packages directories of the interpreter running asv, in its order.

    In a venv: the venv's (and, with --system-site-packages, the base's); in
    the system interpreter: its own; the user site too when it is enabled.
    """
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    seen = []
    for directory in directories:
        directory = os.path.realpath(directory)
        if os.path.isdir(directory) and directory not in seen:
            seen.append(directory)
    return seen


class OverlayEnvironment(environment.Environment):
    """A venv over the active environment, holding one directory per commit's fastnn."""

    tool_name = "overlay"
    # Chosen by name only (environment_type / -E overlay), never as a fallback.
    matches_python_fallback = False

    def __init__(self, conf, python, requirements, tagged_env_vars):
        if python != running_python_version():
            raise environment.EnvironmentUnavailable(
                f"the overlay environment reuses the interpreter that runs asv, Python "
                f"{running_python_version()} ({sys.executable}), not Python {python}: "
                f"pass -E overlay:{running_python_version()} (scripts/asv_run.sh does)")
        self._executable = sys.executable
        self._python = python
        self._requirements = requirements
        super().__init__(conf, python, requirements, tagged_env_vars)

    @classmethod
    def matches(cls, python):
        return python == running_python_version()

    def _overlay(self) -> dict:
        # (not realpath: a venv's python is a symlink to its base's, and two
        # venvs of one base are two environments)
        return {"layout": LAYOUT, "executable": os.path.abspath(self._executable),
                "site_directories": active_site_directories()}

    def _overlay_path(self) -> str:
        return os.path.join(self._path, _OVERLAY_FILE)

    def commit_directory(self, commit_hash) -> str:
        return os.path.join(self._path, COMMITS_DIR, commit_hash)

    def check_presence(self):
        # asv's own check also wants a `pip` executable in the environment,
        # which an overlay has not (pip comes from the active environment).
        try:
            info = self.load_info_file(self._path)
            with open(self._overlay_path()) as file:
                overlay = json.load(file)
        except (util.UserError, OSError, ValueError):
            return False
        expected_info = {"tool_name": self.tool_name, "python": self._python,
                         "requirements": self._requirements,
                         "build_env_vars": self.build_env_vars}
        if info != expected_info or overlay != self._overlay():
            return False
        try:
            self.run_executable("python", ["-c", "pass"])
        except (subprocess.CalledProcessError, OSError, util.ProcessError):
            return False
        return True

    def _setup(self):
        overlay = self._overlay()
        log.info(f"Creating {self.name}: a venv of {overlay['executable']} over "
                 f"{os.pathsep.join(overlay['site_directories'])}")
        util.check_call([self._executable, "-m", "venv", "--without-pip", self._path])
        purelib = self.run_executable(
            "python", ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
        # Appended after the environment's own site-packages.
        with open(os.path.join(purelib, _OVERLAY_PTH), "w") as file:
            file.write("# the site-packages of the environment that runs asv "
                       "(asv_benches/fastnn_asv_env.py)\n")
            file.writelines(directory + "\n" for directory in overlay["site_directories"])
        with open(os.path.join(purelib, _COMMIT_HOOK), "w") as file:
            file.write(_COMMIT_HOOK_SOURCE.format(
                commits_dir=os.path.join(self._path, COMMITS_DIR)))
        with open(os.path.join(purelib, _COMMIT_PTH), "w") as file:
            file.write(f"import {_COMMIT_HOOK[:-3]}\n")
        os.makedirs(os.path.join(self._path, COMMITS_DIR), exist_ok=True)
        self._check_required_modules()
        self._install_matrix_requirements()
        with open(self._overlay_path(), "w") as file:
            json.dump(overlay, file, indent=1)

    def _check_required_modules(self):
        missing = []
        for module in REQUIRED_MODULES:
            try:
                self.run_executable("python", ["-c", f"import {module}"])
            except util.ProcessError:
                missing.append(module)
        if missing:
            raise util.UserError(
                f"the environment running asv ({self._executable}) lacks {', '.join(missing)}, "
                "which the overlay environment takes from it: install fastnn's bench extra "
                "there first (pip install -e \".[bench]\")")

    def _install_matrix_requirements(self):
        # Only the matrix's own requirements: asv's base requirements
        # (build, asv_runner, pympler) come from the active environment.
        for name, version in self._requirements.items():
            name = name[4:] if name.startswith("pip+") else name
            declaration = util.ParsedPipDeclaration(f"{name} {version}".strip())
            pip_call = util.construct_pip_call(self._run_pip, declaration)
            pip_call()

    def install_project(self, conf, repo, commit_hash):
        """The commit's fastnn in commits/<hash>/, unless it is there already.

        asv's own logic (checkout, the build cache, install_command) runs
        only for a commit without a complete directory; a directory left
        half-made by an interrupted install is made anew.
        """
        directory = self.commit_directory(commit_hash)
        marker = os.path.join(directory, _INSTALLED_MARKER)
        if not os.path.isfile(marker):
            if os.path.isdir(directory):
                shutil.rmtree(directory)
            # asv skips the install when its record names this commit.
            self._set_installed_commit_hash(None)
            super().install_project(conf, repo, commit_hash)
            if not os.path.isdir(directory):
                raise util.UserError(f"install_command did not install into {directory}")
            with open(marker, "w") as file:
                file.write(commit_hash + "\n")
        self._set_commit_hash(commit_hash)
        self._set_build_dirs(None, None)
        self._set_installed_commit_hash(commit_hash)

    def _run_pip(self, args, **kwargs):
        return self.run_executable("python", ["-m", "pip"] + list(args), **kwargs)

    def run(self, args, **kwargs):
        log.debug(f"Running '{' '.join(args)}' in {self.name}")
        return self.run_executable("python", args, **kwargs)
