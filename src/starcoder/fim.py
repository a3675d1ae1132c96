"""Fill-in-the-middle: the one owner of FIM tokens and layouts, for training and inference.

PSM: <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle
SPM: <fim_prefix><fim_suffix> suffix <fim_middle> prefix middle
(../shared/spec/STARCODER.md §3). At inference the model writes the middle and ends it with
<|endoftext|>.
"""
from __future__ import annotations

FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"
EOS = "<|endoftext|>"
# ids in StarCoder's vocabulary (and in every tokenizer this package trains)
EOS_ID, FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID, FIM_PAD_ID = 0, 1, 2, 3, 4
MODES = ("psm", "spm")


def infill_prompt(prefix: str, suffix: str, mode: str = "psm") -> str:
    """The prompt text that asks the model for the middle between `prefix` and `suffix`.

    Encode it with `allow_special=True` (the FIM markers must become control tokens), or use
    `infill_prompt_ids` to keep user text from ever producing control tokens.
    """
    if mode == "psm":
        return f"{FIM_PREFIX}{prefix}{FIM_SUFFIX}{suffix}{FIM_MIDDLE}"
    if mode == "spm":
        return f"{FIM_PREFIX}{FIM_SUFFIX}{suffix}{FIM_MIDDLE}{prefix}"
    raise ValueError(f"unknown FIM mode {mode!r}; use 'psm' or 'spm'")


def infill_prompt_ids(tokenizer, prefix: str, suffix: str, mode: str = "psm") -> list[int]:
    """Token ids of the infill prompt; the user's text is encoded as plain text."""
    pre, suf = tokenizer.encode(prefix), tokenizer.encode(suffix)
    p, s, m = (tokenizer.token_to_id(t) for t in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE))
    if None in (p, s, m):
        raise ValueError("this tokenizer has no FIM tokens (<fim_prefix>, <fim_suffix>, <fim_middle>); "
                         "the model was not trained for fill-in-the-middle")
    if mode == "psm":
        return [p, *pre, s, *suf, m]
    if mode == "spm":
        return [p, s, *suf, m, *pre]
    raise ValueError(f"unknown FIM mode {mode!r}; use 'psm' or 'spm'")


# --------------------------------------------------------------------------------------------
# Training transform (BigCode's Megatron-LM FIM, spec §3), applied to packed token windows.

FIM_RATE, FIM_SPM_RATE = 0.5, 0.5


def _split_utf8(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, body, tail): `head` is continuation bytes of a character begun before `data`,
    `tail` an incomplete character cut by the window's end, `body` the whole characters between."""
    h = 0
    while h < len(data) and h < 3 and 0x80 <= data[h] < 0xC0:
        h += 1
    t = len(data)
    for back in range(1, min(4, len(data) - h) + 1):  # find the last lead byte
        b = data[len(data) - back]
        if b < 0x80:
            break
        if b >= 0xC0:
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            if need > back:
                t = len(data) - back
            break
    return data[:h], data[h:t], data[t:]


class FimTransform:
    """Rewrites each document fragment of a packed window into PSM or SPM order.

    Per fragment (the tokens between `<|endoftext|>` separators) with probability `rate`:
    decode to text, cut at two uniform character positions into prefix/middle/suffix,
    re-tokenise each piece and reassemble in SPM order with probability `spm_rate`, else PSM.
    The window is then truncated or right-padded with `<fim_pad>` to its original length.
    Bytes of a character split by the window edges stay raw byte tokens at the edges, so no
    UTF-8 character is ever broken; tokens up to the metadata line (`<reponame>...\\n`) or any
    other control token are kept as they are, and only the text after them is rearranged.
    """

    def __init__(self, tokenizer, rate: float = FIM_RATE, spm_rate: float = FIM_SPM_RATE):
        for name, v in (("fim_rate", rate), ("fim_spm_rate", spm_rate)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {v!r}")
        missing = [t for t in (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD) if tokenizer.token_to_id(t) is None]
        if missing:
            raise ValueError(f"the tokenizer lacks {missing}; train it with `starcoder tokenizer train` "
                             f"(which adds StarCoder's special tokens) to use FIM")
        self.tok, self.rate, self.spm_rate = tokenizer, rate, spm_rate
        self.eos, self.pre, self.mid, self.suf, self.pad = (
            tokenizer.token_to_id(t) for t in (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD))
        self.special = tokenizer.special_ids
        tb = tokenizer.token_bytes
        self.byte_id = {}  # single raw byte -> its byte-level token id
        for i, b in enumerate(tb):
            if len(b) == 1 and i not in self.special:
                self.byte_id.setdefault(b[0], i)

    def __call__(self, window: list[int], rng) -> list[int]:
        """Apply FIM to one window (list of ids); `rng` is a numpy Generator."""
        out: list[int] = []
        start = 0
        for i in range(len(window) + 1):
            if i == len(window) or window[i] == self.eos:
                frag = window[start:i]
                if frag and rng.random() < self.rate:
                    frag = self.permute(frag, rng)
                out.extend(frag)
                if i < len(window):
                    out.append(self.eos)
                start = i + 1
        n = len(window)
        return out[:n] if len(out) >= n else out + [self.pad] * (n - len(out))

    def _header_len(self, frag: list[int]) -> int:
        """Tokens kept in place: through the last control token and, after one, the end of its line."""
        last = max((k for k, t in enumerate(frag) if t in self.special), default=-1)
        if last < 0:
            return 0
        tb = self.tok.token_bytes
        for k in range(last + 1, len(frag)):
            if b"\n" in tb[frag[k]]:
                return k + 1
        return len(frag)

    def permute(self, frag: list[int], rng) -> list[int]:
        """One fragment in FIM order (not length-preserving; the window is fixed by __call__)."""
        h = self._header_len(frag)
        header, body = frag[:h], frag[h:]
        if not body:
            return frag
        head, text_b, tail = _split_utf8(self.tok.decode_bytes(body))
        try:
            text = text_b.decode("utf-8")
        except UnicodeDecodeError:  # not text (cannot happen for curated data): leave it alone
            return frag
        lo, hi = sorted(int(x) for x in rng.integers(0, len(text) + 1, size=2))
        enc = self.tok.encode
        prefix = [self.byte_id[b] for b in head] + enc(text[:lo])
        middle = enc(text[lo:hi])
        suffix = enc(text[hi:]) + [self.byte_id[b] for b in tail]
        if rng.random() < self.spm_rate:
            return header + [self.pre, self.suf, *suffix, self.mid, *prefix, *middle]
        return header + [self.pre, *prefix, self.suf, *suffix, self.mid, *middle]
