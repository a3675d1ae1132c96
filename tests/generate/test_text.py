"""Text-level behaviour with a scripted model: stop sequences, UTF-8 streaming, special tokens, FIM."""
from __future__ import annotations

import pytest
import torch

import starcoder
from starcoder.config import preset
from starcoder.fim import FIM_MIDDLE_ID, FIM_PREFIX_ID, FIM_SUFFIX_ID, infill_prompt_ids
from starcoder.generate import GenerationConfig, Generator
from starcoder.generate.stopping import StopMatcher
from starcoder.generate.streaming import TextAssembler
from tests.generate.helpers import ScriptedModel, byte_ids

UNICODE = "print('héllo 😀 世界 ✓')\n"


def _scripted(tok, prompt_ids, script):
    cfg = preset("test-tiny", vocab_size=tok.vocab_size)
    return Generator(ScriptedModel(cfg, script, len(prompt_ids)), tok)


def test_stop_sequence_spanning_tokens_is_removed(tiny_tokenizer):
    tok = tiny_tokenizer
    prompt = tok.encode("x")
    script = byte_ids(tok, "foo = 1\n\ndef bar():\n")  # "\n\nd" arrives as three separate tokens
    gen = _scripted(tok, prompt, script)
    c = gen.generate_ids([prompt], GenerationConfig(max_new_tokens=50, stop=("\n\ndef", "never")))[0]
    assert c.text == "foo = 1" and c.finish_reason == "stop_sequence"
    assert c.token_ids == script[:len("foo = 1\n\ndef")]  # generation stopped at the completing token
    # streaming never shows a piece of the stop sequence, and ends with the same text
    pieces = list(gen.stream("x", GenerationConfig(max_new_tokens=50, stop=("\n\ndef",))))
    assert "".join(pieces) == "foo = 1" and gen.last_completion.finish_reason == "stop_sequence"


def test_stop_inside_a_single_token_and_eos(tiny_tokenizer):
    tok = tiny_tokenizer
    prompt = tok.encode("x")
    script = tok.encode("return self.items") + [0] + byte_ids(tok, "zzz")
    gen = _scripted(tok, prompt, script)
    c = gen.generate_ids([prompt], GenerationConfig(max_new_tokens=50))[0]
    assert c.text == "return self.items" and c.finish_reason == "eos_token" and c.token_ids[-1] == 0
    c = gen.generate_ids([prompt], GenerationConfig(max_new_tokens=50, stop=("elf",)))[0]
    assert c.text == "return s" and c.finish_reason == "stop_sequence"
    c = gen.generate_ids([prompt], GenerationConfig(max_new_tokens=3))[0]
    assert c.finish_reason == "length" and len(c.token_ids) == 3


def test_streaming_emoji_and_cjk_split_across_byte_tokens(tiny_tokenizer):
    tok = tiny_tokenizer
    script = byte_ids(tok, UNICODE)
    assert len(script) == len(UNICODE.encode("utf-8")) > len(UNICODE)  # characters really are split
    gen = _scripted(tok, tok.encode("x"), script)
    pieces = list(gen.stream("x", GenerationConfig(max_new_tokens=100)))
    assert "".join(pieces) == UNICODE
    for p in pieces:
        assert "\ufffd" not in p
        p.encode("utf-8")  # whole characters only (a lone surrogate would raise)
    assert len(pieces) < len(script)  # the 4-byte emoji came out as one piece, not four


def test_invalid_bytes_become_replacement_characters(tiny_tokenizer):
    tok = tiny_tokenizer
    a = TextAssembler(tok)
    bad = byte_ids(tok, "ok")
    single = {b: i for i, b in enumerate(tok.token_bytes) if len(b) == 1}
    for t in bad + [single[b"\xf0"], single[b"\x9f"]]:  # an emoji cut short at the end
        a.push(t)
    assert a.increment() == "ok"
    assert a.finish() == "ok\ufffd"


def test_stop_matcher_holds_back_only_possible_starts():
    m = StopMatcher(("\n\n", "END"))
    assert m.held_back("abc\n") == 1 and m.held_back("abcE") == 1 and m.held_back("abcEN") == 2
    assert m.held_back("abc") == 0
    assert m.find("a\nb") is None and m.find("a\nb\n\nc") == 3


def test_special_tokens_never_in_text(tiny_tokenizer):
    tok = tiny_tokenizer
    prompt = tok.encode("x")
    script = byte_ids(tok, "ab") + [FIM_MIDDLE_ID, 5] + byte_ids(tok, "cd")
    c = _scripted(tok, prompt, script).generate_ids([prompt], GenerationConfig(max_new_tokens=6))[0]
    assert c.text == "abcd" and FIM_MIDDLE_ID in c.token_ids


def test_infill_suppresses_fim_and_special_tokens(tiny_tokenizer):
    tok = tiny_tokenizer
    prefix, suffix = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
    prompt = infill_prompt_ids(tok, prefix, suffix)
    script = [FIM_PREFIX_ID, FIM_SUFFIX_ID, 7] + byte_ids(tok, "a + b") + [FIM_MIDDLE_ID, 0]
    c = _scripted(tok, prompt, script).infill(prefix, suffix, GenerationConfig(max_new_tokens=12))
    special = tok.special_ids - {0}
    assert not special & set(c.token_ids)
    assert "<fim" not in c.text and "<|" not in c.text


def test_infill_real_model_psm_and_spm(tiny_model_dir):
    model, tok = starcoder.load(tiny_model_dir)
    gen = Generator(model, tok)
    for mode in ("psm", "spm"):
        c = gen.infill("def add(a, b):\n    return ", "\n", GenerationConfig(max_new_tokens=30), mode=mode)
        assert not (tok.special_ids - {0}) & set(c.token_ids)
        for s in ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<|endoftext|>", "<filename>"):
            assert s not in c.text
        ids = infill_prompt_ids(tok, "def add(a, b):\n    return ", "\n", mode)
        assert c.prompt_tokens == len(ids)
    with pytest.raises(ValueError, match="unknown FIM mode"):
        gen.infill("a", "b", mode="xyz")


def test_stream_equals_generate_text(tiny_model_dir):
    model, tok = starcoder.load(tiny_model_dir)
    gen = Generator(model, tok)
    cfg = GenerationConfig(max_new_tokens=40, stop=("\n\n",))
    c = gen.generate(["def main():\n"], cfg)[0]
    assert "".join(gen.stream("def main():\n", cfg)) == c.text
    assert gen.last_completion.token_ids == c.token_ids
