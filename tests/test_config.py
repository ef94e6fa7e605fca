import pytest

from ttl.config import ConfigError, available_profiles, load_profile


def test_the_four_profiles_ship_and_load():
    assert {"smoke", "colab", "ttl-160m", "ttl-460m"} <= set(available_profiles())
    for name in available_profiles():
        p = load_profile(name)
        assert p.name == name
        assert p.train.seq_len <= p.model.max_seq_len
        assert p.tokenizer.vocab_size <= p.model.vocab_size


def test_published_pretraining_settings():
    p160, p460 = load_profile("ttl-160m"), load_profile("ttl-460m")
    assert p160.train.tokens_per_step == 8192 and p460.train.tokens_per_step == 8192
    assert p460.train.grad_accum_steps == 2
    assert (p160.train.lr, p160.train.warmup_steps, p160.train.max_steps) == (6e-4, 5000, 458_000)
    assert (p460.train.lr, p460.train.warmup_steps, p460.train.max_steps) == (3e-4, 10_000, 1_200_000)
    assert p160.train.betas == (0.9, 0.999) and p160.train.eps == 1e-8 and p160.train.weight_decay == 0.01


def test_env_var_selects_profile(monkeypatch):
    monkeypatch.setenv("TTL_PROFILE", "colab")
    assert load_profile().name == "colab"
    monkeypatch.delenv("TTL_PROFILE")
    assert load_profile().name == "smoke"


def test_unknown_profile_names_the_choices():
    with pytest.raises(ConfigError, match="unknown profile 'smok'.*smoke"):
        load_profile("smok")


def test_typo_in_key_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="max_step"):
        load_profile("smoke", train={"max_step": 3})


def test_invalid_model_shapes_are_explained():
    with pytest.raises(ConfigError, match="divisible"):
        load_profile("smoke", model={"hidden_size": 130})
    with pytest.raises(ConfigError, match="num_kv_heads"):
        load_profile("smoke", model={"num_kv_heads": 3})
    with pytest.raises(ConfigError, match="precision"):
        load_profile("smoke", train={"precision": "fp8"})


def test_yaml_file_profile(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nmodel: {hidden_size: 64, num_heads: 2, num_kv_heads: 1}\n")
    p = load_profile(str(path))
    assert p.name == "mine" and p.model.head_dim == 32
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile(str(tmp_path / "missing.yaml"))
