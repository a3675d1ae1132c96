import json

from hypothesis import given, settings, strategies as st

from starcoder.tokenizer import SPECIAL_TOKENS, Tokenizer
from tests.conftest import STDLIB

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


def test_special_tokens_at_ids_0_to_18(tiny_tokenizer):
    assert [tiny_tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(19))
    assert tiny_tokenizer.token_to_id("<fim_prefix>") == 1 and tiny_tokenizer.token_to_id("<reponame>") == 18
    assert tiny_tokenizer.eos_token_id == 0
    assert tiny_tokenizer.vocab_size == 512


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_roundtrip_random_unicode(tiny_tokenizer, text):
    ids = tiny_tokenizer.encode(text)
    assert tiny_tokenizer.decode(ids) == text
    assert tiny_tokenizer.decode_bytes(ids) == text.encode("utf-8")


def test_roundtrip_real_source_files(tiny_tokenizer):
    files = sorted(STDLIB.glob("**/*.py"))[::40][:60]
    assert len(files) >= 30
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        assert tiny_tokenizer.decode(tiny_tokenizer.encode(text)) == text, f


def test_special_token_text_is_data_unless_asked(tiny_tokenizer):
    text = "x = '<fim_prefix>' + '<|endoftext|>'"
    ids = tiny_tokenizer.encode(text)
    assert not set(ids) & set(range(19))
    assert tiny_tokenizer.decode(ids) == text
    assert tiny_tokenizer.encode("<fim_prefix>a<fim_suffix>", allow_special=True)[0] == 1


def test_digits_are_split(tiny_tokenizer):
    ids = tiny_tokenizer.encode("1234567890")
    assert len(ids) == 10


def test_saved_tokenizer_loads_in_transformers_with_same_ids(tiny_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    tiny_tokenizer.save(tmp_path, model_max_length=256)
    hf = AutoTokenizer.from_pretrained(tmp_path)
    ours = Tokenizer.from_dir(tmp_path)
    assert ours.model_max_length == 256
    assert hf.eos_token_id == 0 and hf.convert_tokens_to_ids("<fim_middle>") == 2
    for f in sorted(STDLIB.glob("*.py"))[:20]:
        text = f.read_text(encoding="utf-8")[:3000]
        assert hf(text, add_special_tokens=False)["input_ids"] == ours.encode(text)
        assert hf.decode(ours.encode(text)) == text
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert cfg["eos_token"] == "<|endoftext|>"


def test_from_dir_without_tokenizer_is_none(tmp_path):
    assert Tokenizer.from_dir(tmp_path) is None
