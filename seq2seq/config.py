"""Typed experiment configuration, loaded strictly from YAML.

Every section is a dataclass; an unknown key or a value of the wrong type is an error that names
the dotted key, and command-line overrides (``training.learning_rate=3e-4``) are coerced by the
field's declared type (``strict.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seq2seq.data_config import DATA_KINDS as DATA_KINDS  # the data section has a module of its own
from seq2seq.data_config import DataConfig as DataConfig
from seq2seq.strict import ConfigError as ConfigError  # the error every config mistake raises
from seq2seq.strict import at_least, choice, from_dict, read_values


@dataclass
class TokenizerConfig:
    # word: whole words (labels); char: one token per character (key strings, spelling)
    model_type: str = choice("unigram", "unigram", "bpe", "word", "char")
    vocab_size: int = at_least(8000, 5)  # per side, or in all when joint
    joint: bool = False
    character_coverage: float = 1.0
    max_sentences: int = 1_000_000  # sentences sampled to train SentencePiece
    # Fold the source side's case (SentencePiece's nmt_nfkc_cf rule, kept in the model): bAbI asks
    # "what is gertrude afraid of?" about "Gertrude", and "Sheep" starts a sentence about sheep.
    lowercase_source: bool = False
    # Decode to exactly the text that was encoded: no Unicode normalisation, spaces and newlines
    # kept as written (language modelling, where layout is part of what the model writes).
    keep_whitespace: bool = False


RNN_TYPES = ("elman", "gru", "lstm")


MODALITIES = ("text", "video", "audio", "series")


@dataclass
class EncoderConfig:
    rnn_type: str = choice("gru", *RNN_TYPES)
    hidden_size: int = at_least(256, 1)  # per direction
    num_layers: int = at_least(1, 1)
    bidirectional: bool = True
    dropout: float = 0.2
    # Video only: the CNN run on every frame before the RNN.
    cnn: str = choice("small", "small", "resnet18")
    cnn_weights: str = ""  # resnet18: a local .safetensors or state-dict file (never downloaded); "" = random
    freeze_cnn: bool = False
    feature_size: int = at_least(128, 1)  # the small CNN's output per frame
    spatial_grid: int = at_least(4, 1)  # small CNN: pool to grid x grid cells, so features keep *where* things are
    frame_differences: bool = False  # small CNN: also see each frame's difference to the next (motion)
    # See each frame and its mirror, keep what does not depend on which is which: a clip and its
    # mirror get the same label (for labels that do not depend on left and right; twice the CNN work).
    mirror_invariant: bool = False
    # Frozen CNN: compute per-frame features once (cached with the data) instead of every epoch.
    cache_features: bool = False
    # Audio only: stride-2 convolutions before the RNN divide the frames by `subsampling`.
    subsampling: int = choice(4, 1, 2, 4, 8)
    conv_channels: int = at_least(256, 1)
    # Text read sentence by sentence (processor `sentences: true`) only. Memory: every token, or
    # one state per sentence (what multi-hop reading attends over).
    memory_unit: str = choice("tokens", "tokens", "sentences")
    sentence_rnn: bool = True  # an RNN over the sentence vectors tells each about its neighbours
    recency_noise: float = 0.0  # training: random empty steps between sentences for the recency vectors
    # Text: a sentence's (or a question's) summary is the RNN's final state plus the sum of its
    # word embeddings (embedding_size must equal the output size).
    bag_of_words: bool = False
    # bag_of_words: weight each word by its place (memory networks' position encoding) instead of
    # summing the words plainly (replace), or add that weighted sum to the plain one (add).
    position_encoding: str = choice("none", "none", "replace", "add")


@dataclass
class InputConfig:
    """One named model input: its modality, its encoder, and its processor's settings."""

    modality: str = choice("text", *MODALITIES)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    # Video: VideoProcessor settings (num_frames, frame_size, fps, crop_scale, horizontal_flip, ...).
    # Audio: AudioProcessor settings (sampling_rate, features, num_mel_bins, SpecAugment masks, ...).
    # Text inputs are processed by the tokenizer section's SentencePiece model.
    processor: dict[str, Any] = field(default_factory=dict)


@dataclass
class DecoderConfig:
    rnn_type: str = choice("gru", *RNN_TYPES)
    hidden_size: int = at_least(512, 1)
    num_layers: int = at_least(1, 1)
    attention: str = choice("bahdanau", "bahdanau", "luong_dot", "luong_general")
    attention_size: int = at_least(512, 1)  # Bahdanau's hidden layer
    input_feeding: bool = False
    dropout: float = 0.2
    tie_embeddings: bool = False  # output layer shares the target embedding matrix


@dataclass
class ModelConfig:
    embedding_size: int = at_least(256, 1)
    embedding_dropout: float = 0.2
    # The text inputs' embedding starts N(0, std^2); 0 = PyTorch's N(0, 1). Memory-network readers
    # want a small start (0.1, as Sukhbaatar et al.): large bag-of-words sums saturate the hops'
    # gates on the first updates and they never learn to match the question (bAbI task 15: 34-59 %
    # at N(0, 1), 99 % at 0.1, two minutes each).
    embedding_init_std: float = 0.0
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    # Several inputs: concat = one attention over all their positions (with a learned embedding
    # per input); gate = one attention per input, contexts mixed by a learned gate.
    fusion: str = choice("concat", "concat", "gate")
    # Joint CTC-attention training: weight in [0, 1) of an auxiliary CTC loss on the encoder
    # states (one-input models; training only). Speech: the attention learns to align far sooner.
    ctc_weight: float = 0.0
    # The input whose summary starts the decoder ("" = the mean of all inputs' summaries). Question
    # answering: the question, so the decoder knows what it is looking for before it reads the story.
    query_input: str = ""
    # Attention hops over the other inputs' memory before the first output token: each hop reads
    # the memory with the current query and updates it with a GRU cell (multi-hop reasoning:
    # "where is the football?" -> who has it -> where that person went).
    hops: int = at_least(0, 0)
    # How the hops read: attention (a softmax over the memory per hop), query_reduction (gated
    # passes over the sentences in order, forward and backward; Seo et al., 2017), or both side by side.
    reader: str = choice("attention", "attention", "query_reduction", "both")
    # What the decoder attends over: the inputs' memory, or the reader's query after each hop (the
    # answer then comes through the reasoning: attending to the story itself let the decoder
    # memorise bAbI 1k's training stories instead of chaining facts).
    decoder_memory: str = choice("inputs", "inputs", "reader")
    # Text inputs share their word-level RNN too (not only the embedding): a question and the
    # story's sentences are read alike, so a question's summary and a fact's can be compared.
    share_text_rnn: bool = False
    # Strong supervision: weight of an auxiliary loss pulling what the hops read toward the
    # supporting facts (bAbI marks them; a supporting_facts column of sentence positions). 0 = off.
    hop_supervision: float = 0.0


@dataclass
class TrainingConfig:
    output_dir: str = "runs/translation"
    seed: int = 42
    max_epochs: int = 10
    max_steps: int = 0  # 0 = no limit
    max_time_minutes: float = 0.0  # 0 = no limit
    # Examples (or padded tokens) per optimizer update, whatever the number of processes and
    # accumulation steps: those only change how an update batch is split.
    batch_size: int = at_least(64, 1)
    batch_type: str = choice("sentences", "sentences", "tokens")
    optimizer: str = choice("adam", "adam", "adamw", "rmsprop")
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = choice("constant", "constant", "linear", "cosine", "inverse_sqrt")
    warmup_steps: int = 0
    clip_grad_norm: float = 1.0  # 0 = off
    label_smoothing: float = 0.0
    gradient_accumulation_steps: int = at_least(1, 1)  # micro-batches per update and process
    max_bad_steps: int = at_least(5, 1)  # consecutive updates with a non-finite loss before stopping
    # Wins over `accelerate launch --mixed_precision` (a differing launcher setting gets a warning).
    mixed_precision: str = choice("no", "no", "fp16", "bf16")
    eval_every_steps: int = 0  # 0 = after every epoch
    # Metrics computed and logged at each evaluation (empty = all of the task's); eval_metric picks
    # the best model and drives early stopping; target_metric stops training once reached.
    metrics: list[str] = field(default_factory=list)
    eval_metric: str = "bleu"
    target_metric: float | None = None
    eval_num_beams: int = at_least(1, 1)
    max_eval_examples: int = 0  # 0 = the whole validation split
    early_stopping_patience: int = 0  # evaluations without improvement; 0 = off
    log_every_steps: int = at_least(50, 1)
    checkpoint_every_steps: int = 0  # 0 = after every evaluation
    keep_checkpoints: int = 2
    num_workers: int = 0
    log_with: str = choice("", "", "tensorboard")
    # Restarts (restarts.py): train this many candidates from seeds seed, seed + 1, ... for
    # restart_steps updates each, then train on the one with the best validation score.
    restarts: int = at_least(1, 1)
    restart_steps: int = 0
    # Continued training (continued.py): start from this saved model directory (its weights,
    # architecture, tokenizer and processors) instead of from scratch, on this run's data.
    init_from: str = ""
    # A classifier continued on data with labels it was not trained on: an error unless true (the
    # labels' new words then join the vocabulary, with new embedding and output rows).
    allow_new_labels: bool = False


@dataclass
class GenerationConfig:
    num_beams: int = at_least(5, 1)
    # An output may have min(max_length, max_length_a * source_length + max_length_b) tokens
    # (fairseq's max_len_a/b; a = b = 0 keeps the absolute max_length only). An output cut at
    # its limit is reported, never passed off as complete.
    max_length: int = at_least(200, 1)
    max_length_a: float = at_least(2.0, 0)
    max_length_b: int = at_least(10, 0)
    length_penalty: float = 1.0
    batch_size: int = at_least(64, 1)
    # Pipelines translate a multi-sentence input sentence by sentence and join the results.
    split_sentences: bool = True


@dataclass
class ForecastingConfig:
    """Forecasting (task: forecasting): windows of the series, and what the model predicts."""

    input_length: int = at_least(24, 1)  # the most recent steps the model reads
    # Training histories of random lengths from min_input_length to input_length (0 = all of
    # input_length): the origin spec's variable-length sequences, packed in one batch.
    min_input_length: int = at_least(0, 0)
    horizon: int = at_least(1, 1)  # steps forecast at once (the head's outputs per feature)
    season: int = at_least(1, 1)  # the seasonal period (12 monthly, 11 for sunspots): MASE and seasonal naive
    scaling: str = choice("relative", "relative", "standard")  # see seq2seq.series.Scaler
    stride: int = at_least(1, 1)  # steps between training windows


@dataclass
class Config:
    task: str = "translation"
    # The model's inputs by name, each with its encoder (translation: source; action recognition: video).
    inputs: dict[str, InputConfig] = field(default_factory=lambda: {"source": InputConfig()})
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    forecasting: ForecastingConfig = field(default_factory=ForecastingConfig)


# Keys that moved, and where to: an old config gets told what to write instead.
MOVED_KEYS = {
    **{f"data.{old}_column": f"data.columns ({{{field}: ...}})" for old, field in (
        ("source", "source, video or audio"), ("target", "target"), ("audio", "audio"), ("context", "context"),
        ("question", "question"))},
}
MOVED_VALUES = {("data.kind", old): "huggingface" for old in ("hub", "disk", "files")}


def config_from_dict(values: dict[str, Any], cls: type = Config) -> Any:
    """Build a config dataclass from nested dicts; unknown keys and bad types raise ConfigError."""
    return from_dict(cls, values or {}, moved_keys=MOVED_KEYS, moved_values=MOVED_VALUES)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML experiment file and apply ``section.key=value`` overrides."""
    return config_from_dict(read_values(path, overrides))
