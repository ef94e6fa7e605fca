"""Tests of ttl.tokenizer against the libraries that do the same job.

The training text is written here (a few dozen Portuguese sentences, recombined), so
the tests never need the corpus or the network.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest
from tokenizers import Tokenizer, models
from transformers import AutoTokenizer

from ttl.tokenizer import (BYTE_TOKENS, SPECIAL_TOKENS, compare_tokenizers, holdout_split, load_spm,
                           load_tokenizer, pre_tokenize, save_tokenizer, tokenizer_metrics, train_bpe,
                           train_spm, train_tokenizer)
from ttl.tokenizer import train as train_module
from ttl.tokenizer.train import build_normalizer, build_pre_tokenizer

SENTENCES = [
    "O gato dormia tranquilo no sofá da sala enquanto chovia lá fora.",
    "A professora explicou a lição de matemática com muita paciência.",
    "Os pescadores saíram cedo para aproveitar a maré alta.",
    "Na feira de domingo havia bananas, laranjas e abacaxis maduros.",
    "Ele comprou 12 pães e 3 litros de leite na padaria da esquina.",
    "A biblioteca municipal abre às 8 horas e fecha às 18 horas.",
    "Minha avó contava histórias de assombração nas noites de inverno.",
    "O time venceu o campeonato depois de uma temporada difícil.",
    "As crianças brincavam de esconde-esconde no quintal da escola.",
    "Em 2023, a cidade recebeu mais de 40 mil visitantes durante o festival.",
    "O médico recomendou repouso, água e alimentação equilibrada.",
    "Choveu tanto que o rio transbordou e alagou as ruas do centro.",
    "A reunião do conselho foi adiada para a próxima quinta-feira.",
    "Você já experimentou o pão de queijo que vendem na rodoviária?",
    "Não sei se amanhã vai dar tempo de terminar o relatório.",
    "A estação de trem ficava a dois quarteirões da nossa casa.",
    "O computador travou e perdi o trabalho que não tinha salvado.",
    "Os estudantes organizaram uma campanha para arrecadar livros.",
    "Depois do almoço, fomos caminhar pela praia até o farol.",
    "A receita pede duas xícaras de farinha e uma colher de fermento.",
    "O ônibus atrasou por causa do trânsito na avenida principal.",
    "Ela estudava música e sonhava em tocar numa orquestra.",
    "O prefeito prometeu reformar a praça e plantar novas árvores.",
    "Quando a luz acabou, acendemos velas e ficamos conversando.",
]


def make_texts(n: int = 300, seed: int = 0) -> list[str]:
    """Documents of 1-4 sentences; some with newlines, so the tokenizer sees them too."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        k = rng.randint(1, 4)
        sep = "\n" if rng.random() < 0.3 else " "
        docs.append(sep.join(rng.choice(SENTENCES) for _ in range(k)))
    return docs


TEXTS = make_texts()

ROUND_TRIP_CASES = [
    "",
    "a",
    "Olá, mundo!",
    " começa com espaço",
    "   três espaços antes",
    "termina com espaços   ",
    "dois  espaços  no  meio",
    "emoji 😀🎉 e bandeira 🇧🇷",
    "日本語のテキスト, 中文, 한국어",
    "العربية والفارسية",
    "Ελληνικά και русский",
    "acento decomposto: a\u0303o e\u0301",   # combining marks must stay decomposed
    "tab\tnova linha\nretorno\r\nfim",
    "\n\ncomeça com linhas vazias\n\n\n",
    "números 0123456789 e ½ ² ٣",
    "parece token <0x41> mas é texto, <s e /s>",
    "\u200b zero-width e \ufeff BOM e \x00 nulo",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 fora do BMP 𐍈",
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, 600, show_progress=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tok):
    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    save_tokenizer(tok, out)
    return out


def _merges(hf_tok) -> list[tuple[str, str]]:
    raw = json.loads(hf_tok.backend_tokenizer.to_str())["model"]["merges"]
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in raw]


# ----------------------------------------------------------------------------- vocabulary

def test_special_and_byte_tokens_have_llama_ids(tok):
    vocab = tok.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert [vocab[f"<0x{b:02X}>"] for b in range(256)] == list(range(4, 260))
    assert len(vocab) <= 600
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 1, 2, 3)


def test_vocab_size_counts_bytes_and_is_reached_on_enough_text():
    small = train_tokenizer(TEXTS, 300, show_progress=False)
    assert len(small.get_vocab()) == 300          # 4 specials + 256 bytes + 40 learned
    assert sum(1 for t in small.get_vocab() if t in set(BYTE_TOKENS)) == 256


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("text", ROUND_TRIP_CASES)
def test_round_trip_exact(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_round_trip_random_unicode(tok):
    rng = random.Random(1)
    pool = [c for c in map(chr, range(0x20, 0x3000)) if c.isprintable()] + ["😀", "🇧", "\n", "\t", " ", " "]
    pool = [c for c in pool if c != "\u2581"]
    for _ in range(200):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        assert tok.decode(tok.encode(text), skip_special_tokens=True) == text, repr(text)


def test_metaspace_character_is_the_one_documented_exception(tok):
    # A literal "▁" cannot be told apart from an encoded space (the same in SentencePiece).
    assert tok.decode(tok.encode("a\u2581b"), skip_special_tokens=True) == "a b"


def test_special_token_strings_in_text(tok):
    # By default "<s>" written in a text IS the bos token (the Assin2 recipe builds inputs as
    # "<s>premise<s>hypothesis</s>"); split_special_tokens=True reads them as plain text.
    text = "premissa<s>hipótese</s>"
    ids = tok.encode(text, add_special_tokens=False)
    assert ids.count(1) == 1 and ids.count(2) == 1
    plain = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert 1 not in plain and 2 not in plain
    assert tok.decode(plain, skip_special_tokens=True) == text


def test_round_trip_through_saved_folder(saved):
    loaded = AutoTokenizer.from_pretrained(str(saved))
    for text in ROUND_TRIP_CASES:
        assert loaded.decode(loaded.encode(text), skip_special_tokens=True) == text


# ----------------------------------------------------------------------------- byte fallback

def test_unseen_characters_become_their_utf8_bytes_never_unk(tok):
    for char in ["😀", "語", "ß", "\x07", "🇧🇷"]:
        assert char not in tok.get_vocab()
        ids = tok.encode(char, add_special_tokens=False)
        assert tok.unk_token_id not in ids
        pieces = [p for p in tok.convert_ids_to_tokens(ids) if p != "\u2581"]
        assert pieces == [f"<0x{b:02X}>" for b in char.encode("utf-8")]


def test_without_byte_tokens_unseen_characters_are_lost_as_unk():
    no_bytes = train_tokenizer(TEXTS, 300, byte_fallback=False, show_progress=False)
    assert not set(BYTE_TOKENS) & set(no_bytes.get_vocab())
    ids = no_bytes.encode("gato 😀", add_special_tokens=False)
    assert no_bytes.unk_token_id in ids
    assert "😀" not in no_bytes.decode(ids, skip_special_tokens=True)


def test_the_original_bug_byte_fallback_flag_without_byte_tokens_gives_unk():
    # What TTL's script built: byte_fallback=True, but no <0x..> tokens in the vocabulary.
    bpe = models.BPE(vocab={"<unk>": 0, "a": 1}, merges=[], unk_token="<unk>", byte_fallback=True)
    assert Tokenizer(bpe).encode("a😀").ids == [1, 0]


# ----------------------------------------------------------------------------- pipeline details

def test_digits_are_split(tok):
    pieces = tok.convert_ids_to_tokens(tok.encode("Em 2023 eram 40 mil e 12 pães", add_special_tokens=False))
    digit_pieces = [p for p in pieces if any(c.isdigit() for c in p)]
    assert "".join(digit_pieces) == "20234012"
    assert all(len(p) == 1 for p in digit_pieces)


def test_words_start_with_the_space_mark_and_never_span_two_words(tok):
    pieces = tok.convert_ids_to_tokens(tok.encode("a casa da minha avó", add_special_tokens=False))
    assert all("\u2581" not in p[1:] for p in pieces)
    assert pieces[0].startswith("\u2581")


def test_bos_added_eos_not_and_pair_like_assin2(tok):
    ids = tok("O gato dormia")["input_ids"]
    assert ids[0] == 1 and ids.count(1) == 1 and 2 not in ids
    pair = tok("O gato dormia", "O gato estava acordado")["input_ids"]
    assert pair[0] == 1 and pair.count(1) == 2 and 2 not in pair


def test_padding_uses_pad_token(tok):
    batch = tok(["a casa", "o gato dormia no sofá da sala"], padding=True)
    assert batch["input_ids"][0][-1] == 3
    assert batch["attention_mask"][0][-1] == 0


def test_autotokenizer_loads_the_folder_with_the_same_behaviour(tok, saved):
    loaded = AutoTokenizer.from_pretrained(str(saved))
    assert type(loaded).__name__ in ("PreTrainedTokenizerFast", "TokenizersBackend", "LlamaTokenizerFast")
    assert (loaded.bos_token, loaded.eos_token, loaded.unk_token, loaded.pad_token) == ("<s>", "</s>", "<unk>", "<pad>")
    for text in TEXTS[:20] + ROUND_TRIP_CASES:
        assert loaded.encode(text) == tok.encode(text)
    assert loaded("a casa", "o gato")["input_ids"] == tok("a casa", "o gato")["input_ids"]
    assert load_tokenizer(saved).encode("Olá 😀") == tok.encode("Olá 😀")


# ----------------------------------------------------------------------------- streaming, max_chars

def test_trains_from_a_generator_and_matches_a_list():
    from_list = train_tokenizer(TEXTS, 400, show_progress=False)
    from_gen = train_tokenizer((t for t in TEXTS), 400, show_progress=False)
    assert from_gen.get_vocab() == from_list.get_vocab()


def test_max_chars_stops_reading_an_endless_stream():
    pulled = []

    def endless():                            # would never end without max_chars
        for text in itertools.cycle(TEXTS):
            pulled.append(text)
            yield text

    limited = train_tokenizer(endless(), 400, max_chars=5000, show_progress=False)
    assert sum(map(len, pulled[:-1])) < 5000 <= sum(map(len, pulled))   # not one document more
    # Same as training on exactly the first 5000 characters.
    prefix, total = [], 0
    for text in TEXTS:
        prefix.append(text[:5000 - total])
        total += len(prefix[-1])
        if total >= 5000:
            break
    assert limited.get_vocab() == train_tokenizer(prefix, 400, show_progress=False).get_vocab()


# ----------------------------------------------------------------------------- errors

def test_vocab_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(TEXTS, 200, show_progress=False)


def test_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no text"):
        train_tokenizer(iter([]), 400, show_progress=False)
    with pytest.raises(ValueError, match="no text"):
        train_tokenizer(["", ""], 400, show_progress=False)


def test_non_string_items_are_a_clear_error():
    with pytest.raises(TypeError, match="item 1 is dict"):
        train_tokenizer(["texto", {"text": "linha"}], 400, show_progress=False)
    with pytest.raises(TypeError, match="not a single string"):
        train_tokenizer("um texto só", 400, show_progress=False)


def test_too_many_characters_without_byte_fallback_is_a_clear_error():
    texts = ["".join(chr(0x4E00 + i) for i in range(400))] * 3
    with pytest.raises(ValueError, match="more distinct characters"):
        train_tokenizer(texts, 300, byte_fallback=False, show_progress=False)
    with_bytes = train_tokenizer(texts, 400, show_progress=False)   # rare characters go to bytes
    assert len(with_bytes) <= 400
    assert with_bytes.decode(with_bytes.encode(texts[0]), skip_special_tokens=True) == texts[0]


def test_load_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train one first"):
        load_tokenizer(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- atomic save

def test_save_replaces_atomically_and_keeps_old_on_failure(tmp_path, tok, monkeypatch):
    out = tmp_path / "tokenizer"
    save_tokenizer(tok, out)
    before = (out / "tokenizer.json").read_bytes()

    def broken_save(folder, *args, **kwargs):
        (tmp_path / "half").mkdir(exist_ok=True)
        raise OSError("disk full")

    monkeypatch.setattr(tok, "save_pretrained", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_tokenizer(tok, out)
    monkeypatch.undo()
    assert (out / "tokenizer.json").read_bytes() == before          # old tokenizer intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half", "tokenizer"]  # no temp folders left

    other = train_tokenizer(TEXTS[:50], 300, show_progress=False)
    save_tokenizer(other, out)
    assert AutoTokenizer.from_pretrained(str(out)).get_vocab() == other.get_vocab()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half", "tokenizer"]


def test_train_with_out_dir_saves(tmp_path):
    out = tmp_path / "t"
    tok = train_tokenizer(TEXTS[:50], 300, out, show_progress=False)
    assert AutoTokenizer.from_pretrained(str(out)).encode("casa") == tok.encode("casa")


# ----------------------------------------------------------------------------- teaching BPE

TRICKY = ["", " ", "  a  b ", "Em 2023,\nchoveu\n\n\n muito ² ½ ٣ x\n", "\n\na", "a\n", "12 34", "a\r\nb",
          "fim.  \n  início", "a\u2581b"]


@pytest.mark.parametrize("text", TRICKY + SENTENCES[:5])
def test_teaching_pre_tokenizer_matches_tokenizers(text):
    normalizer, pre = build_normalizer(), build_pre_tokenizer()
    expected = [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))]
    assert pre_tokenize(text) == expected


def test_teaching_bpe_learns_the_same_merges_as_tokenizers():
    texts = make_texts(300, seed=3)
    real = train_tokenizer(texts, 256 + 4 + 60 + 150, show_progress=False, sentencepiece_merges=False)
    real_merges = _merges(real)
    assert 50 <= len(real_merges) <= 200
    taught = train_bpe(texts, num_merges=len(real_merges))
    assert taught.merges == real_merges
    assert taught.vocab == real.get_vocab()


def test_teaching_bpe_breaks_ties_like_tokenizers():
    # Every pair occurs exactly twice: the order is decided by the tie-breaking rule alone.
    texts = ["ab cd ef gh ba dc", "ab cd ef gh ba dc"]
    real = train_tokenizer(texts, 300, min_frequency=1, show_progress=False, sentencepiece_merges=False)
    taught = train_bpe(texts, num_merges=len(_merges(real)), min_frequency=1)
    assert taught.merges == _merges(real)


def test_teaching_bpe_encodes_and_decodes_like_the_real_tokenizer():
    texts = make_texts(200, seed=5)
    real = train_tokenizer(texts, 256 + 4 + 60 + 120, show_progress=False, sentencepiece_merges=False)
    taught = train_bpe(texts, num_merges=len(_merges(real)))
    for text in SENTENCES + ROUND_TRIP_CASES:
        assert taught.encode(text) == real.encode(text, add_special_tokens=False), text
        if "\u2581" not in text:
            assert taught.decode(taught.encode(text)) == text


def test_teaching_bpe_min_frequency_stops_early():
    taught = train_bpe(["abc abd"], num_merges=100, min_frequency=2)
    real = train_tokenizer(["abc abd"], 400, min_frequency=2, show_progress=False, sentencepiece_merges=False)
    assert taught.merges == _merges(real)
    assert len(taught.merges) < 100


# ----------------------------------------------------------------------------- sentencepiece

@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "tok.model"
    train_spm(TEXTS, 500, path)
    return load_spm(path)


def test_spm_has_the_same_special_ids_and_byte_pieces(sp_model):
    assert [sp_model.id_to_piece(i) for i in range(4)] == list(SPECIAL_TOKENS)
    assert (sp_model.unk_id(), sp_model.bos_id(), sp_model.eos_id(), sp_model.pad_id()) == (0, 1, 2, 3)
    assert [sp_model.id_to_piece(i) for i in range(4, 260)] == BYTE_TOKENS
    assert sp_model.get_piece_size() == 500


def test_spm_byte_fallback_digits_and_round_trip(sp_model):
    ids = sp_model.encode("😀")
    assert sp_model.unk_id() not in ids
    assert [p for p in sp_model.id_to_piece(ids) if p != "\u2581"] == [f"<0x{b:02X}>" for b in "😀".encode()]
    pieces = sp_model.encode("ano 2023", out_type=str)
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["2", "0", "2", "3"]
    for text in ROUND_TRIP_CASES:
        if "\u2581" not in text and "\n" not in text and "\r" not in text:
            assert sp_model.decode(sp_model.encode(text)) == text, repr(text)


def test_spm_errors():
    with pytest.raises(ValueError, match="no text"):
        train_spm([], 400)
    with pytest.raises(ValueError, match="too small"):
        train_spm(TEXTS, 100)
    with pytest.raises(TypeError, match="item 0 is int"):
        train_spm([3], 400)


# ----------------------------------------------------------------------------- metrics

def test_metrics_agree_with_direct_counts(tok):
    held = SENTENCES[:6] + ["um emoji 😀 aqui"]
    m = tokenizer_metrics(tok, held)
    enc = [tok.encode(t, add_special_tokens=False) for t in held]
    n_tokens = sum(map(len, enc))
    n_words = sum(len(t.split()) for t in held)
    assert m["tokens"] == n_tokens and m["words"] == n_words
    assert m["fertility"] == pytest.approx(n_tokens / n_words)
    assert m["bytes_per_token"] == pytest.approx(sum(len(t.encode()) for t in held) / n_tokens)
    n_bytes = sum(1 for ids in enc for p in tok.convert_ids_to_tokens(ids) if p in set(BYTE_TOKENS))
    assert n_bytes >= 4
    assert m["byte_fallback_rate"] == pytest.approx(n_bytes / n_tokens)
    assert m["unk_rate"] == 0
    words = [w for t in held for w in t.split()]
    split = sum(1 for w in words if len(tok.encode(w, add_special_tokens=False)) > 1)
    assert m["split_word_share"] == pytest.approx(split / len(words))


def test_metrics_see_unknowns_without_byte_fallback():
    no_bytes = train_tokenizer(TEXTS, 300, byte_fallback=False, show_progress=False)
    m = tokenizer_metrics(no_bytes, ["gato 😀 e cão 語"])
    assert m["unk_rate"] > 0 and m["byte_fallback_rate"] == 0


def test_metrics_on_sentencepiece_and_teaching_bpe(sp_model):
    held = SENTENCES[:8]
    m = tokenizer_metrics(sp_model, held)
    assert m["tokens"] == sum(len(sp_model.encode(t)) for t in held)
    taught = train_bpe(TEXTS[:100], 40)
    mt = tokenizer_metrics(taught, held)
    assert mt["tokens"] == sum(len(taught.encode(t)) for t in held)
    with pytest.raises(TypeError, match="cannot measure"):
        tokenizer_metrics(object(), held)
    with pytest.raises(ValueError, match="no held-out text"):
        tokenizer_metrics(sp_model, ["", "  "])


def test_compare_table_and_fertility_falls_with_vocab_size():
    train, held = holdout_split(make_texts(400, seed=7), 0.1)
    assert len(held) == 40 and not set(held) - set(make_texts(400, seed=7))
    table = compare_tokenizers(train, held, vocab_sizes=(350, 450, 650))
    assert list(table["trainer"]) == ["tokenizers"] * 3 + ["sentencepiece"] * 3
    for trainer, rows in table.groupby("trainer"):
        fert = rows.sort_values("requested_vocab")["fertility"].tolist()
        assert fert == sorted(fert, reverse=True), (trainer, fert)
    with pytest.raises(ValueError, match="unknown trainer"):
        compare_tokenizers(train, held, vocab_sizes=(300,), trainers=("wordpiece",))


def test_limit_alphabet_leaves_rare_characters_to_bytes():
    texts = TEXTS + ["raro: ж"]
    tok_limited = train_tokenizer(texts, 400, limit_alphabet=40, show_progress=False)
    assert "ж" not in tok_limited.get_vocab()
    assert "\u2581" in tok_limited.get_vocab()          # the space mark is never left to bytes
    tiny = train_tokenizer(texts, 400, limit_alphabet=1, show_progress=False)
    assert "\u2581" in tiny.get_vocab()
    assert tiny.decode(tiny.encode(SENTENCES[0]), skip_special_tokens=True) == SENTENCES[0]
    assert tok_limited.decode(tok_limited.encode("ж"), skip_special_tokens=True) == "ж"
    assert train_module.DEFAULT_LIMIT_ALPHABET >= 100


def test_spm_honours_max_chars():
    endless = itertools.cycle(TEXTS)
    sp = train_spm(endless, 400, max_chars=20000)
    assert sp.get_piece_size() == 400


def test_completed_merges_follow_the_vocabulary_like_sentencepiece():
    """The trainer's merges plus every other split of each token, ranked by the token's id: the
    hand-made case where the learned merges alone stop at ["a", "bc"]."""
    from tokenizers import Tokenizer, models

    from ttl.tokenizer.train import complete_merges

    vocab = {"a": 0, "b": 1, "c": 2, "bc": 3, "ab": 4, "abc": 5}
    learned = [("b", "c"), ("a", "b"), ("ab", "c")]
    done = complete_merges({"model": {"vocab": vocab, "merges": [list(m) for m in learned]}})["model"]["merges"]
    assert [tuple(m) for m in done] == [("b", "c"), ("a", "b"), ("ab", "c"), ("a", "bc")]
    encode = lambda merges: Tokenizer(models.BPE(vocab=vocab, merges=merges)).encode("abc").tokens  # noqa: E731
    assert encode(learned) == ["a", "bc"] and encode([tuple(m) for m in done]) == ["abc"]

    texts = make_texts(200, seed=7)
    full = train_tokenizer(texts, 400, show_progress=False)
    only = train_tokenizer(texts, 400, show_progress=False, sentencepiece_merges=False)
    assert full.get_vocab() == only.get_vocab()
    assert set(_merges(only)) < set(_merges(full))
    ranks = [full.get_vocab()[a + b] for a, b in _merges(full)]
    assert ranks == sorted(ranks)
