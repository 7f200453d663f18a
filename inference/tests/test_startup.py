"""Start-up cost: loading the networks imports neither torchvision nor torch._dynamo (inference._spandrel)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          check=True, timeout=300).stdout.strip()  # fmt: skip


def test_loading_a_network_imports_neither_torchvision_nor_dynamo():
    imported = run("""
        import sys
        from inference.loading import load_network
        load_network("anime-fast", 4, "cpu")
        print(sorted({name.split(".")[0] + "." + name.split(".")[1] if "." in name else name
                      for name in sys.modules if name.startswith(("torchvision", "torch._dynamo"))}))
    """)
    assert imported == "[]"


def test_the_deferred_torchvision_names_resolve_and_a_later_import_is_the_real_package():
    out = run("""
        import sys
        import inference.loading
        lama = sys.modules["spandrel.architectures.LaMa.__arch.LaMa"]
        print(type(lama.rotate).__name__, lama.InterpolationMode.BILINEAR.value)
        import torchvision.transforms.functional as functional
        print(functional.rotate.__module__, lama.rotate._resolve() is functional.rotate)
    """)
    assert out.splitlines() == ["_Deferred bilinear", "torchvision.transforms.functional True"]


def test_warm_up_loads_each_model_once_and_runs_it():
    from inference.loading import load_network
    from inference.warmup import warm_up

    seconds = warm_up(["anime-fast"])
    assert set(seconds) == {"anime-fast"} and seconds["anime-fast"] > 0
    before = load_network.cache_info().hits
    warm_up(["anime-fast"])
    assert load_network.cache_info().hits > before  # the second time, nothing is loaded again
