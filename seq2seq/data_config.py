"""The data section of an experiment config: where the rows come from and how they are read.

Loaded strictly with the rest of the config (``config.py``, ``strict.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seq2seq.strict import at_least, choice

DATA_KINDS = ("generated", "huggingface", "parallel_text", "class_folders", "fsdd", "fsdd_connected", "babi",
              "text_file", "statsmodels")


@dataclass
class DataConfig:
    # huggingface: anything `datasets` reads, by `path`: a hub id (user/name), a local dataset
    #       folder (loaded the way a hub id is: data files found by split name, or audio/video/image
    #       files in class folders), a builder (csv, json, parquet, text, audiofolder, videofolder,
    #       imagefolder) with data_files or data_dir, or a directory written by save_to_disk
    # generated: a corpus the project makes itself (path = generator name: numbers_en_de, copy,
    #            reverse; actions = seq2seq.synthetic_video's .mp4 clips; dtmf = keypad tones, .wav;
    #            audio_visual = seq2seq.synthetic_av's .mp4 clips with soundtracks; qa_world =
    #            seq2seq.synthetic_qa's stories and questions)
    # parallel_text: line-aligned plain text files, one per side and split (columns source, target)
    # class_folders: path/<split>/<class>/<clip> (video files, frame folders or image strips;
    #       columns video, label)
    # fsdd: the Free Spoken Digit Dataset at path (recordings 10-49 train, 5-9 validation, 0-4 test):
    #       audio -> label (the digit word)
    # fsdd_connected: 2-6 FSDD recordings of one split joined into an utterance (generated_sizes,
    #       written under generated_dir): audio -> text (the digit string)
    # babi: a folder of bAbI qaN_*_{train,valid,test}.txt files (or one file), babi_tasks picks tasks
    # text_file: one plain-text file at path (language modelling): its first 1 - valid_fraction of
    #       characters train, the rest validate (column text)
    # statsmodels: a series that ships inside statsmodels (path: sunspots or co2; column value;
    #       forecasting, with the forecasting extra). Generated series: path sines or random_walk.
    kind: str = choice("generated", *DATA_KINDS)
    path: str = "numbers_en_de"
    config_name: str = ""  # huggingface: the dataset's configuration (load_dataset's `name`)
    data_dir: str = ""  # huggingface: a builder's data folder (audiofolder, videofolder, ...)
    data_files: dict[str, str | list[str]] = field(default_factory=dict)  # huggingface: split -> file(s) or glob
    source_files: dict[str, str] = field(default_factory=dict)
    target_files: dict[str, str] = field(default_factory=dict)
    train_split: str = "train"
    valid_split: str = "validation"
    test_split: str = "test"
    # Which column holds each field the task reads ({source: de, target: en}; nested keys as
    # translation.de, list items as answers.text[0]); fields not given use the task's defaults:
    # translation source/target; action_recognition video/audio/label (audio "" = the video
    # file's soundtrack); speech_recognition audio/text; question_answering context/question/answer.
    columns: dict[str, str] = field(default_factory=dict)
    babi_tasks: list[int] = field(default_factory=list)  # data.kind=babi: these task numbers only; [] = all
    # data.kind=babi: a task without a validation file (en-10k) holds out this fraction of its
    # training stories as validation (every tenth story with 0.1: the same split everywhere)
    babi_valid_fraction: float = 0.0
    # class_folders: readable labels for class folder names ({0_wave1: wave one hand}); default the name
    folder_labels: dict[str, str] = field(default_factory=dict)
    # class_folders: a .tsv or .csv file (under path) with a `path` column, each clip's path under
    # path; its other columns join the clip's row (the person, the take, ...).
    metadata_file: str = ""
    # Leave-groups-out validation: the training and validation splits are pooled, rows whose
    # group_column value is in valid_groups validate and the rest train (one fold of
    # cross-validation over persons or speakers: scripts/cross_validate.py runs every fold).
    group_column: str = ""
    valid_groups: list[str] = field(default_factory=list)
    # text_file: the share of the text (its end) held out for validation; forecasting: the share
    # of the series (its end) held out for evaluation, and of the rest, for validation
    valid_fraction: float = 0.1
    # Language modelling: each text is cut into blocks of this many characters, one example each
    # (0 = whole texts); validation texts into blocks of valid_block_size (0 = block_size): longer
    # blocks leave fewer characters predicted without context.
    block_size: int = at_least(0, 0)
    valid_block_size: int = at_least(0, 0)
    # Training pairs longer than this (in tokens) are dropped, not truncated.
    max_source_length: int = 100
    max_target_length: int = 100
    # Training audio/video shorter or longer than this (in seconds; 0 = no limit) is dropped.
    min_duration_seconds: float = 0.0
    max_duration_seconds: float = 0.0
    max_train_examples: int = 0  # 0 = all
    # Continued training: rehearse old data to limit forgetting. replay_path names a dataset read
    # as data.path is (same kind and columns); its training split is sampled (seeded) to
    # replay_fraction times the new training rows and mixed in.
    replay_path: str = ""
    replay_fraction: float = 0.0
    max_valid_examples: int = 0  # 0 = all
    # A video that cannot be read stops data preparation with an error naming it; true skips such
    # examples instead and reports how many.
    skip_bad_examples: bool = False
    # Train from an IterableDataset, read as it goes instead of loaded into memory (validation is
    # read into memory: max_valid_examples of it). Rows are shuffled in a buffer of
    # shuffle_buffer rows and grouped by length within a window of 100 batches.
    streaming: bool = False
    shuffle_buffer: int = at_least(10_000, 1)
    # Sizes for generated corpora.
    generated_sizes: dict[str, int] = field(
        default_factory=lambda: {"train": 20000, "validation": 500, "test": 500}
    )
    generated_seed: int = 1234
    # Where generated media corpora (path: actions) write their files; "" = ~/.cache/seq2seq/generated.
    # Files written with the same settings are reused.
    generated_dir: str = ""
