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
  its own (``--without-pip``), into which asv installs one commit's fastnn
  (``build_command`` and ``install_command`` in asv.conf.json);
* plus one ``.pth`` file that appends the running interpreter's
  site-packages directories to the environment's ``sys.path``, *after* its own
  site-packages. numpy, numba, scikit-learn, pip, setuptools, wheel,
  asv_runner and pympler come from there, unchanged: nothing is downloaded,
  and every commit is measured with the numpy/numba the user has.

The directories are added as plain paths, so the ``.pth`` files inside them
are not run: an editable install of fastnn in the active environment (whose
hook is such a file) stays invisible, and the benchmarks check that fastnn
was imported from the overlay environment itself (``benchmarks/_common.py``).

The environment remembers which interpreter and directories it was made for
(``asv-overlay.json``) and is made anew when asv runs from another one.
Matrix requirements (``"req"`` in asv.conf.json's matrix, none today) are
installed into the environment with pip, shadowing the active ones; they need
a package index.
"""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys

from asv import environment, util
from asv.console import log

# What asv and fastnn's build and install commands import inside the
# environment; all of them are in the "bench" extra of pyproject.toml.
REQUIRED_MODULES = ("pip", "setuptools", "wheel", "asv_runner", "pympler", "numpy", "numba")

_OVERLAY_FILE = "asv-overlay.json"
_PTH_NAME = "_fastnn_asv_overlay.pth"


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
    """A venv holding only the benchmarked fastnn, over the active environment."""

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
        return {"executable": os.path.abspath(self._executable),
                "site_directories": active_site_directories()}

    def _overlay_path(self) -> str:
        return os.path.join(self._path, _OVERLAY_FILE)

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
        # Appended after the environment's own site-packages: the fastnn
        # that asv installs there wins over any the active environment has.
        with open(os.path.join(purelib, _PTH_NAME), "w") as file:
            file.write("# the site-packages of the environment that runs asv "
                       "(asv_benches/fastnn_asv_env.py)\n")
            file.writelines(directory + "\n" for directory in overlay["site_directories"])
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

    def _run_pip(self, args, **kwargs):
        return self.run_executable("python", ["-m", "pip"] + list(args), **kwargs)

    def run(self, args, **kwargs):
        log.debug(f"Running '{' '.join(args)}' in {self.name}")
        return self.run_executable("python", args, **kwargs)
