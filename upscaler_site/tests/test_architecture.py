"""The structure the code must keep: imports one way between apps, no import cycles, no PyTorch in the web tier.

See docs/architecture.md.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from upscaler_site.testing import ROOT

#: The apps, lowest first: each may import the ones before it, never the ones after.
LAYERS = ["accounts", "billing", "images", "batches", "webhooks"]
#: Project packages whose imports are checked.
PACKAGES = ["upscaler_site", "inference", *LAYERS]
#: Modules of upscaler_site that sit above the apps (they wire them together or build test data).
PROJECT_TOP = {"upscaler_site.urls", "upscaler_site.testing"}


def source_modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of the project packages, tests and migrations left out."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports, at module level, in functions, or under TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from images import jobs`` imports the module images.jobs.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = dict(source_modules())
    modules = set(paths)
    # A package's __init__ importing its own submodules is how a package exposes them, not a dependency.
    return {
        name: {target for target in imports_of(path, modules) if not target.startswith(f"{name}.")}
        for name, path in paths.items()
    }


def test_apps_import_only_the_apps_below_them(graph):
    wrong = []
    for module, targets in graph.items():
        app = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if app in LAYERS and other in LAYERS and LAYERS.index(other) > LAYERS.index(app):
                wrong.append(f"{module} imports {target}")
            if app == "inference" and other != "inference":
                wrong.append(f"{module} imports {target}: inference knows nothing of Django")
            if app == "upscaler_site" and module not in PROJECT_TOP and other in LAYERS:
                wrong.append(f"{module} imports {target}: shared plumbing imports no app")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles(graph):
    """Tarjan's strongly connected components over module-level and function-level imports alike."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_inference_does_not_import_django():
    for name, path in source_modules():
        if name.startswith("inference"):
            tree = ast.parse(path.read_text())
            imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            assert not any(module.split(".")[0] in ("django", "rest_framework") for module in imported), name


# What the web tier loads: settings, every URL, and every app's modules.
_WEB_TIER = f"""
LAYERS = {LAYERS!r}
import importlib, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "upscaler_site.settings"
import django
django.setup()
from django.core.management import call_command
from django.urls import get_resolver
get_resolver().url_patterns
call_command("check", verbosity=0)
for app in LAYERS:
    for name in ("api", "views", "serializers", "admin", "urls", "web_urls", "jobs", "tasks", "signals", "events",
                 "delivery"):
        try:
            importlib.import_module(f"{{app}}.{{name}}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{{app}}.{{name}}":
                raise
import upscaler_site.wsgi
print(json.dumps(sorted(m for m in ("torch", "torchvision", "spandrel") if m in sys.modules)))
"""


def test_the_web_tier_loads_without_pytorch():
    """The URLconf, every app's views, serializers, admin and jobs, the task module and the WSGI app."""
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "HOME": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _WEB_TIER], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _drf_setting_modules() -> list[str]:
    from django.conf import settings

    paths: set[str] = set()
    for value in settings.REST_FRAMEWORK.values():
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, str) and path.split(".")[0] in (*LAYERS, "upscaler_site"):
                paths.add(path.rsplit(".", 1)[0])
    return sorted(paths)


@pytest.mark.parametrize("module", _drf_setting_modules())
def test_the_modules_drf_settings_name_import_first(module):
    """DRF imports these while it builds APIView: imported before anything else has loaded
    rest_framework.views, they must not need APIView themselves (a circular import)."""
    code = (
        "import importlib, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'upscaler_site.settings'\n"
        f"import django; django.setup(); importlib.import_module({module!r})"
    )
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "HOME": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
