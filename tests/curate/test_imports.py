"""Curation never imports torch (ARCHITECTURE.md: curate depends on datatrove and data files only)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import starcoder.curate

CURATE = Path(starcoder.curate.__file__).parent


def test_no_torch_import_statement_under_curate():
    offenders = []
    for f in sorted(CURATE.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{f.name}: {n}" for n in names if n.split(".")[0] == "torch"]
    assert offenders == []


def test_importing_every_curate_module_leaves_torch_unloaded():
    code = ("import importlib, pkgutil, sys, starcoder.curate as c\n"
            "[importlib.import_module('starcoder.curate.' + m.name) for m in pkgutil.iter_modules(c.__path__)]\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
