import json
import subprocess
import sys

from starcoder.cli import VERBS, main
from tests.conftest import make_hf_checkpoint


def test_info_reports_size_and_kv_cache(tmp_path, capsys):
    make_hf_checkpoint(tmp_path, n_layer=3, multi_query=True)
    assert main(["info", str(tmp_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["parameters"] == 64 * 512 + 128 * 64 + 3 * (64 * 96 + 96 + 64 * 64 + 64 + 2 * 64 * 256 + 256 + 64 + 4 * 64) + 2 * 64
    assert d["kv_cache_bytes_per_token"]["bfloat16"] == 2 * 3 * 16 * 2
    assert d["main_dtype_on_disk"] == "F32"
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "multi-query" in out and "KV cache per token" in out


def test_info_on_bad_dir_fails_with_message(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_console_script_help_lists_every_verb():
    out = subprocess.run([sys.executable, "-m", "starcoder", "--help"], capture_output=True, text=True, check=True).stdout
    for verb, *_ in VERBS:
        assert verb in out


def test_unknown_verb(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown verb" in capsys.readouterr().err
