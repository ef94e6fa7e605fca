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


def test_values_are_typed_and_range_checked_naming_the_key():
    """YAML reads 3e-3 as a string: it is a number here; nonsense is refused with its key."""
    assert load_profile("smoke", train={"lr": "3e-3"}).train.lr == 3e-3
    assert load_profile("smoke", train={"max_steps": 1e3}).train.max_steps == 1000
    for section, values, message in [
        ("train", {"lr": "abc"}, "train.lr must be a number, got 'abc'"),
        ("train", {"lr": -1}, "train.lr must be greater than 0, got -1"),
        ("train", {"log_every": 0}, "train.log_every must be greater than 0"),
        ("train", {"grad_accum_steps": 0}, "train.grad_accum_steps must be greater than 0"),
        ("train", {"max_steps": 2.5}, "train.max_steps must be a whole number"),
        ("train", {"compile": "maybe"}, "train.compile must be true or false"),
        ("train", {"betas": [0.9]}, "train.betas must be a list of 2 values"),
        ("data", {"val_fraction": 1.0}, "data.val_fraction must be less than 1"),
        ("model", {"attn_impl": "flash"}, "model.attn_impl must be one of 'sdpa', 'flash_attn', 'triton', 'eager'"),
        ("model", {"hidden_size": True}, "model.hidden_size must be a whole number"),
        ("finetune", {"max_train_examples": 0}, "finetune.max_train_examples must be greater than 0"),
    ]:
        with pytest.raises(ConfigError) as info:
            load_profile("smoke", **{section: values})
        assert message in str(info.value), (values, str(info.value))


def test_one_source_for_vocabulary_context_and_special_ids():
    from ttl.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS
    from ttl.tokenizer.train import SPECIAL_TOKENS as TRAINER_TOKENS

    p = load_profile("ttl-160m")                       # its YAML sets neither tokenizer.vocab_size nor seq_len
    assert p.tokenizer.vocab_size == p.model.vocab_size == 32000 and p.train.seq_len == p.model.max_seq_len
    assert (p.model.bos_token_id, p.model.eos_token_id, p.model.pad_token_id) == (BOS_ID, EOS_ID, PAD_ID)
    assert TRAINER_TOKENS is SPECIAL_TOKENS and SPECIAL_TOKENS[BOS_ID] == "<s>"
    with pytest.raises(ConfigError, match="tokenizer.vocab_size .* is larger than model.vocab_size"):
        load_profile("smoke", tokenizer={"vocab_size": 99999})
    with pytest.raises(ConfigError, match="train.seq_len .* exceeds model.max_seq_len"):
        load_profile("smoke", train={"seq_len": 4096})
    with pytest.raises(ConfigError, match="pad_token_id .* below model.vocab_size"):
        load_profile("smoke", model={"vocab_size": 3})


def test_set_on_the_command_line(capsys):
    from ttl.cli import _settings

    assert _settings(["train.lr=3e-4", "data.max_documents=10", "model.attn_impl=eager"]) == {
        "train": {"lr": "3e-4"}, "data": {"max_documents": 10}, "model": {"attn_impl": "eager"}}
    assert load_profile("smoke", **_settings(["train.lr=3e-4"])).train.lr == 3e-4


def test_chat_settings_are_profile_sections(tmp_path):
    """A custom profile's SFT/DPO settings are its own (they used to fall back to colab's by name)."""
    from ttl.chat.config import chat_config
    from ttl.cli import _settings

    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ntrain: {seed: 7}\nsft: {max_steps: 5, lr: 1.0e-4}\ndpo: {beta: 0.3}\n")
    sft, dpo = chat_config(str(path))
    assert (sft.max_steps, sft.lr, sft.seed, dpo.beta, dpo.max_steps) == (5, 1e-4, 7, 0.3, 30)
    sft, _ = chat_config(load_profile(str(path), **_settings(["sft.max_steps=9"])))
    assert sft.max_steps == 9 and sft.lr == 1e-4
    with pytest.raises(ConfigError, match="sft.batch_size"):
        load_profile(str(path), sft={"batch_size": 0})


def test_a_profile_extends_another_section_by_section(tmp_path):
    # A teacher's language is the smoke profile with a few keys changed, not a copy of it.
    path = tmp_path / "smoke-gl.yaml"
    path.write_text("extends: smoke\ndata: {language: gl}\ntrain: {max_steps: 7}\n")
    mine, smoke = load_profile(str(path)), load_profile("smoke")
    assert mine.name == "smoke-gl" and mine.description == ""
    assert mine.data.language == "gl" and mine.train.max_steps == 7
    assert mine.data.val_fraction == smoke.data.val_fraction and mine.train.lr == smoke.train.lr
    assert mine.model == smoke.model
    # A base file named relative to the file that extends it, and loops named.
    (tmp_path / "child.yaml").write_text("extends: smoke-gl.yaml\nmodel: {num_layers: 2}\n")
    child = load_profile(str(tmp_path / "child.yaml"))
    assert child.model.num_layers == 2 and child.data.language == "gl" and child.train.max_steps == 7
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_profile(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("extends: no-such-profile\n")
    with pytest.raises(ConfigError, match="unknown profile 'no-such-profile'"):
        load_profile(str(tmp_path / "c.yaml"))


def test_a_dotted_override_sets_one_nested_setting_and_keeps_the_others(tmp_path):
    base = load_profile("smoke")
    p = load_profile("smoke", continual={"stage_1.steps": 7, "stage_2.lr": 5e-5})
    assert p.continual.stage_1.steps == 7 and p.continual.stage_2.lr == 5e-5
    # the rest of each stage is what it was: stage 2 keeps its own cosine schedule and mix
    assert p.continual.stage_1.lr == base.continual.stage_1.lr
    assert p.continual.stage_2.schedule == base.continual.stage_2.schedule == "cosine"
    assert p.continual.stage_2.mix == base.continual.stage_2.mix
    # a profile's own nested values survive an override of their neighbours
    own = tmp_path / "own.yaml"
    own.write_text("extends: smoke\ncontinual:\n  stage_1:\n    steps: 3\n    lr: 2.0e-4\n", encoding="utf-8")
    q = load_profile(str(own), continual={"stage_1.warmup_steps": 1})
    assert (q.continual.stage_1.steps, q.continual.stage_1.lr, q.continual.stage_1.warmup_steps) == (3, 2e-4, 1)
    with pytest.raises(ConfigError, match="train.lr is 0.003, not a group"):
        load_profile("smoke", train={"lr.x": 1})
    with pytest.raises(ConfigError, match="stpes"):
        load_profile("smoke", continual={"stage_1.stpes": 1})


def test_cli_set_reaches_nested_settings():
    from ttl.cli import _settings

    settings = _settings(["continual.stage_1.steps=40", "train.lr=3e-4"])
    assert settings["continual"] == {"stage_1.steps": 40}
    p = load_profile("smoke", **settings)
    assert p.continual.stage_1.steps == 40 and p.train.lr == 3e-4
