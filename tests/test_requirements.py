"""The environment is pinned whole: requirements.lock holds every installed package at its
version, so a new release of a theme or a library cannot change the book or the grades."""

import importlib.metadata
import re
import site
from pathlib import Path

from autograder.course import ROOT


def pins(path):
    found = {}
    for text in Path(path).read_text().splitlines():
        line = text.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return found


def test_every_installed_package_is_locked_at_its_version():
    lock = pins(ROOT / "requirements.lock")
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version.split("+")[0]
                 for d in importlib.metadata.distributions(path=site.getsitepackages())}  # not vendored copies
    installed = {name: version for name, version in installed.items() if name not in ("pip", "setuptools", "wheel")}  # as pip freeze
    assert {n: v for n, v in installed.items() if lock.get(n) != v} == {}, "run the lock's regeneration line"


def test_the_direct_pins_agree_with_the_lock():
    lock = pins(ROOT / "requirements.lock")
    for path in (ROOT / "requirements.txt", ROOT / "autograder" / "requirements-no-deps.txt"):
        for name, version in pins(path).items():
            assert lock.get(name) == version, f"{path.name}: {name}=={version}, the lock has {lock.get(name)}"
