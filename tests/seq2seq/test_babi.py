"""The bAbI reader, on stories written here (no real data needed)."""

import datasets
import pytest

from seq2seq.babi import parse_babi, read_babi

STORIES = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel picked up the apple.
5 Daniel took the football.
6 What is Daniel carrying?\tapple,football\t4 5
1 Sandra journeyed to the garden.
2 Is Sandra in the garden?\tyes\t1
"""


def test_questions_see_the_story_so_far_and_stories_restart_at_1():
    rows = parse_babi(STORIES.splitlines())
    questions = ["Where is Mary?", "What is Daniel carrying?", "Is Sandra in the garden?"]
    assert [row["question"] for row in rows] == questions
    assert rows[0]["context_sentences"] == ["Mary moved to the bathroom.", "John went to the hallway."]
    assert rows[1]["context_sentences"][-2:] == ["Daniel picked up the apple.", "Daniel took the football."]
    assert len(rows[1]["context_sentences"]) == 4  # questions are not statements
    assert rows[2]["context"] == "Sandra journeyed to the garden."  # a new story
    assert [row["answer"] for row in rows] == ["bathroom", "apple,football", "yes"]  # multi-word answers stay text
    assert [row["supporting_facts"] for row in rows] == [[0], [2, 3], [0]]  # IDs 4 5 -> sentences 2 and 3


def test_malformed_lines_are_errors_naming_the_line():
    with pytest.raises(ValueError, match=r"story.txt:2: expected 'ID text'"):
        parse_babi(["1 A went home.", "no id here"], "story.txt")
    with pytest.raises(ValueError, match=r"story.txt:2: line ID 3 follows 1"):
        parse_babi(["1 A went home.", "3 B left."], "story.txt")
    with pytest.raises(ValueError, match=r"story.txt:2: supporting facts \['7'\] are not statements"):
        parse_babi(["1 A went home.", "2 Where is A?\thome\t7"], "story.txt")
    with pytest.raises(ValueError, match=r"story.txt:2: a question line needs"):
        parse_babi(["1 A went home.", "2 Where is A?\t"], "story.txt")


def test_a_folder_reads_every_task_into_splits(tmp_path):
    (tmp_path / "qa1_train.txt").write_text(STORIES)
    (tmp_path / "qa1_valid.txt").write_text(STORIES)
    (tmp_path / "qa12_conjunction_train.txt").write_text(STORIES)
    (tmp_path / "notes.txt").write_text("ignored")
    dataset = read_babi(tmp_path)
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 6, "validation": 3}
    assert dataset["train"]["task"] == [1, 1, 1, 12, 12, 12]
    assert {split: len(rows) for split, rows in read_babi(tmp_path / "qa1_train.txt").items()} == {"train": 3}
    (tmp_path / "stories.txt").write_text(STORIES)  # a name without a split: its questions train
    assert {split: len(rows) for split, rows in read_babi(tmp_path / "stories.txt").items()} == {"train": 3}
    with pytest.raises(FileNotFoundError, match="bAbI file or folder not found"):
        read_babi(tmp_path / "missing")


def test_data_kind_babi_reads_the_chosen_tasks(tmp_path):
    from seq2seq.config import DataConfig
    from seq2seq.sources import load_raw_dataset

    (tmp_path / "qa1_train.txt").write_text(STORIES)
    (tmp_path / "qa2_train.txt").write_text(STORIES)
    assert load_raw_dataset(DataConfig(kind="babi", path=str(tmp_path), babi_tasks=[2]))["train"]["task"] == [2] * 3
    assert len(load_raw_dataset(DataConfig(kind="babi", path=str(tmp_path)))["train"]) == 6
    with pytest.raises(ValueError, match=r"no bAbI files for tasks \[7\]"):
        load_raw_dataset(DataConfig(kind="babi", path=str(tmp_path), babi_tasks=[7]))


def test_data_kind_babi_reads_one_file(tmp_path):
    from seq2seq.config import DataConfig
    from seq2seq.sources import load_raw_dataset
    from seq2seq.splits import get_split

    stories = "".join(f"1 Person{n} went to the kitchen.\n2 Where is Person{n}?\tkitchen\t1\n" for n in range(20))
    (tmp_path / "qa1_train.txt").write_text(stories)
    one_file = DataConfig(kind="babi", path=str(tmp_path / "qa1_train.txt"), babi_valid_fraction=0.1)
    dataset = load_raw_dataset(one_file)
    assert (len(get_split(dataset, "train")), len(get_split(dataset, "validation"))) == (18, 2)
    without_fraction = load_raw_dataset(DataConfig(kind="babi", path=str(tmp_path / "qa1_train.txt")))
    with pytest.raises(KeyError, match=r"split 'validation' not in dataset \(available: train\)"):
        get_split(without_fraction, "validation")


def test_a_task_without_a_validation_file_holds_out_whole_stories(tmp_path):
    from seq2seq.config import DataConfig
    from seq2seq.sources import load_raw_dataset

    stories = "".join(f"1 Person{n} went to the kitchen.\n2 Where is Person{n}?\tkitchen\t1\n"
                      f"3 Where is Person{n} now?\tkitchen\t1\n" for n in range(40))
    (tmp_path / "qa1_single-supporting-fact_train.txt").write_text(stories)  # en-10k: training files only
    (tmp_path / "qa2_train.txt").write_text(STORIES)
    (tmp_path / "qa2_valid.txt").write_text(STORIES)  # a task with its own validation file keeps it
    dataset = load_raw_dataset(DataConfig(kind="babi", path=str(tmp_path), babi_valid_fraction=0.1))
    held = [row for row in dataset["validation"] if row["task"] == 1]
    assert sorted({row["story"] for row in held}) == [9, 19, 29, 39]  # every tenth story, both its questions
    assert len(held) == 8 and not {row["story"] for row in dataset["train"] if row["task"] == 1} & {9, 19, 29, 39}
    assert len([row for row in dataset["train"] if row["task"] == 1]) == 72
    assert len([row for row in dataset["validation"] if row["task"] == 2]) == 3
    assert read_babi(tmp_path, valid_fraction=0.1)["validation"]["story"] == dataset["validation"]["story"]
    assert "validation" not in read_babi(tmp_path, tasks=[1])  # no fraction: no validation split made
    with pytest.raises(ValueError, match="validation fraction must be in"):
        read_babi(tmp_path, valid_fraction=1.0)


def test_supporting_facts_reach_the_batch_as_positions_among_the_sentences_kept(tmp_path):
    from pipelines import get_task
    from seq2seq.config import DataConfig
    from seq2seq.data import Examples
    from seq2seq.prepare import prepare_dataset
    from seq2seq.processors.text import TextProcessor
    from seq2seq.tokenization import Tokenizer

    rows = read_babi_rows(STORIES)
    texts = [sentence for row in rows for sentence in row["context_sentences"]] + [row["question"] for row in rows]
    tokenizer = Tokenizer.train(texts * 5, [row["answer"] for row in rows] * 5, vocab_size=60, model_type="bpe")
    processors = {"context": TextProcessor(tokenizer, sentences=True, max_sentences=3),
                  "question": TextProcessor(tokenizer)}
    to_example = get_task("question_answering").make_to_example(DataConfig(columns={"context": "context_sentences"}))
    prepared = prepare_dataset(datasets.Dataset.from_list(rows), tokenizer, processors, to_example=to_example)
    # Question 2 reads 4 sentences, of which the latest 3 are kept: facts 2 and 3 become 1 and 2.
    assert prepared["supporting_facts"] == [[0], [1, 2], [0]]
    batch = Examples(prepared, processors).collate([Examples(prepared, processors)[i] for i in range(3)])
    assert batch.supporting_facts.tolist() == [[0, -1], [1, 2], [0, -1]]
    # A fact the processor dropped is left out; a string context has no facts to read.
    assert processors["context"].kept_positions(["a.", "b.", "c.", "d.", "e."], [0, 4]) == [2]
    strings = get_task("question_answering").make_to_example(DataConfig())(rows[1])
    assert "supporting_facts" not in strings
    with pytest.raises(ValueError, match="supporting facts \\[7\\] are not positions in a context of 4"):
        to_example({**rows[1], "supporting_facts": [7]})


def read_babi_rows(text: str) -> list[dict]:
    return parse_babi(text.splitlines())
