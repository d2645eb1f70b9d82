"""The C part of routepilot: the prober's per-packet loop (src/routepilot/probe/_fastpath.c).

Everything else about the package is in pyproject.toml; setuptools reads both, and
``pip install -e .`` builds the extension in place beside its Python modules.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "routepilot.probe._fastpath",
            sources=["src/routepilot/probe/_fastpath.c"],
            extra_compile_args=["-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
