import json

import pytest

from starcoder.config import PRESETS, ModelConfig, preset


@pytest.mark.parametrize("name,billions", [("starcoder", 15.5), ("starcoderbase", 15.5), ("starcoderbase-7b", 7.3),
                                           ("starcoderbase-3b", 3.0), ("starcoderbase-1b", 1.1),
                                           ("tiny_starcoder_py", 0.164)])
def test_preset_parameter_counts_match_published_sizes(name, billions):
    assert preset(name).num_parameters() / 1e9 == pytest.approx(billions, rel=0.05)


def test_presets_activation_gotcha():
    assert preset("starcoder").activation_function == "gelu"
    assert preset("starcoderbase-7b").activation_function == "gelu"
    assert preset("starcoderbase-1b").activation_function == "gelu_pytorch_tanh"
    assert preset("tiny_starcoder_py").activation_function == "gelu_pytorch_tanh"


def test_kv_cache_per_token_mqa_vs_mha():
    c = preset("starcoder")
    assert c.kv_cache_bytes_per_token(2) == 2 * 40 * 128 * 2  # 20 KiB
    assert c.replace(multi_query=False).kv_cache_bytes_per_token(2) == 48 * c.kv_cache_bytes_per_token(2)


@pytest.mark.parametrize("name", list(PRESETS))
def test_roundtrip_through_transformers_config(name):
    from transformers import GPTBigCodeConfig

    ours = preset(name)
    hf = GPTBigCodeConfig(**{k: v for k, v in ours.to_hf_dict().items() if k not in ("model_type", "architectures")})
    assert ModelConfig.from_hf_dict(hf.to_dict()) == ours


def test_missing_fields_take_transformers_defaults():
    c = ModelConfig.from_hf_dict({"model_type": "gpt_bigcode"})
    from transformers import GPTBigCodeConfig
    hf = GPTBigCodeConfig()
    assert (c.n_embd, c.n_layer, c.activation_function, c.multi_query, c.n_positions) == \
        (hf.n_embd, hf.n_layer, hf.activation_function, hf.multi_query, hf.n_positions)
    assert c.inner_dim == 4 * c.n_embd


@pytest.mark.parametrize("patch,needle", [
    ({"model_type": "llama"}, "model_type 'llama'"),
    ({"activation_function": "swiglu"}, "activation_function 'swiglu' is not supported"),
    ({"n_embd": 100, "n_head": 3}, "divisible"),
    ({"rope_theta": 10000.0}, "rope_theta"),
    ({"multi_query": "yes"}, "multi_query must be true or false"),
    ({"num_key_value_heads": 4}, "num_key_value_heads=4"),
])
def test_bad_configs_raise_clear_errors(patch, needle):
    d = preset("test-tiny").to_hf_dict()
    d.update(patch)
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig.from_hf_dict(d)


def test_json_roundtrip(tmp_path):
    c = preset("starcoderbase-3b")
    c.to_json(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "gpt_bigcode"
    assert ModelConfig.from_json(tmp_path / "config.json") == c
