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
