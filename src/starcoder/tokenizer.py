"""StarCoder's tokenizer: byte-level BPE on Hugging Face `tokenizers`, 19 special tokens at ids 0-18.

Ordinary text is always encoded as text: a literal `<fim_prefix>` inside a source file
becomes ordinary tokens, never the control token (training data must not inject control
tokens). Pass `allow_special=True` to let special-token strings act as control tokens.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer as _HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"
SPECIAL_TOKENS = [
    EOS, "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>", "<gh_stars>",
    "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>",
    "<jupyter_code>", "<jupyter_output>", "<empty_output>", "<commit_before>", "<commit_msg>",
    "<commit_after>", "<reponame>",
]
TOKENIZER_FILES = ("tokenizer.json",)


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes->printable-unicode map used by byte-level BPE vocabularies."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class Tokenizer:
    """Wraps a `tokenizers.Tokenizer`; `encode(text) -> list[int]`, `decode(ids) -> str`."""

    def __init__(self, hf: _HFTokenizer, model_max_length: int | None = None):
        self._special = hf  # special-token strings in the text act as control tokens
        self._plain = _HFTokenizer.from_str(hf.to_str())  # special-token strings are plain text
        self._plain.encode_special_tokens = True
        self.model_max_length = model_max_length

    # construction
    @classmethod
    def from_file(cls, path: str | Path, model_max_length: int | None = None) -> "Tokenizer":
        p = Path(path)
        try:
            return cls(_HFTokenizer.from_file(str(p)), model_max_length)
        except Exception as e:
            raise ValueError(f"cannot read tokenizer file {p}: {e}; it should be a Hugging Face "
                             f"tokenizer.json (re-save it with `tokenizer.save_pretrained`)") from None

    @classmethod
    def from_dir(cls, directory: str | Path) -> "Tokenizer | None":
        """The tokenizer of a model directory, or None when it has no tokenizer.json."""
        d = Path(directory)
        if not (d / "tokenizer.json").is_file():
            return None
        max_len = None
        cfg = d / "tokenizer_config.json"
        if cfg.is_file():
            v = json.loads(cfg.read_text(encoding="utf-8")).get("model_max_length")
            max_len = v if isinstance(v, int) and v < 10**9 else None
        return cls.from_file(d / "tokenizer.json", max_len)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 49152, min_frequency: int = 2,
              show_progress: bool = False) -> "Tokenizer":
        """Train byte-level BPE with the 19 StarCoder special tokens at ids 0-18 and digits split."""
        if vocab_size < len(SPECIAL_TOKENS) + 256:
            raise ValueError(f"vocab_size {vocab_size} is too small: it must hold the {len(SPECIAL_TOKENS)} "
                             f"special tokens and 256 byte tokens (>= {len(SPECIAL_TOKENS) + 256})")
        hf = _HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=show_progress)
        hf.train_from_iterator(texts, trainer=trainer)
        return cls(hf)

    # use
    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        return (self._special if allow_special else self._plain).encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str], allow_special: bool = False) -> list[list[int]]:
        enc = (self._special if allow_special else self._plain).encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in enc]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return self._special.decode(list(ids), skip_special_tokens=skip_special_tokens)

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """The exact bytes each id stands for (special tokens: their UTF-8 text)."""
        dec = _byte_decoder()
        vocab = self._special.get_vocab(with_added_tokens=True)
        out = [b""] * (max(vocab.values()) + 1)
        specials = {t.content for t in self._special.get_added_tokens_decoder().values()}
        for tok, i in vocab.items():
            out[i] = tok.encode("utf-8") if tok in specials else bytes(dec[c] for c in tok)
        return out

    def decode_bytes(self, ids) -> bytes:
        tb = self.token_bytes
        return b"".join(tb[i] for i in ids)

    def token_to_id(self, token: str) -> int | None:
        return self._special.token_to_id(token)

    @property
    def vocab_size(self) -> int:
        return self._special.get_vocab_size(with_added_tokens=True)

    @property
    def eos_token_id(self) -> int:
        return self._special.token_to_id(EOS)

    @cached_property
    def special_ids(self) -> frozenset[int]:
        return frozenset(self._special.get_added_tokens_decoder())

    def save(self, directory: str | Path, model_max_length: int | None = None) -> None:
        """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json (AutoTokenizer loads them)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self._special.save(str(d / "tokenizer.json"))
        specials = sorted(self.special_ids)
        names = [self._special.id_to_token(i) for i in specials]
        extra = [n for n in names if n != EOS]
        max_len = model_max_length or self.model_max_length
        cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": EOS, "eos_token": EOS,
               "unk_token": EOS, "additional_special_tokens": extra, "clean_up_tokenization_spaces": False,
               "add_prefix_space": False}
        if max_len:
            cfg["model_max_length"] = max_len
        (d / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        smap = {"bos_token": EOS, "eos_token": EOS, "unk_token": EOS, "additional_special_tokens": extra}
        (d / "special_tokens_map.json").write_text(json.dumps(smap, indent=2) + "\n", encoding="utf-8")
