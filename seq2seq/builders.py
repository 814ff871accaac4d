"""Builders: the only code that reads a ModelConfig and the inputs' encoder configs (torchtune's rule).

``build_model`` makes a ``Seq2SeqModel`` from them: one encoder per named input, by modality, and
the attention decoder; text inputs share one embedding (and, if asked, one RNN).
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.config import InputConfig, ModelConfig, config_to_dict
from seq2seq.decoder import AttentionDecoder
from seq2seq.encoders import AudioEncoder, SentenceEncoder, TextEncoder, VideoEncoder
from seq2seq.model import Seq2SeqModel
from seq2seq.tokenization import PAD_ID


def build_encoder(spec: InputConfig, *, source_vocab_size: int, embedding_size: int,
                  embedding_dropout: float) -> nn.Module:
    """The encoder of one input, by its modality."""
    encoder = spec.encoder
    common = dict(hidden_size=encoder.hidden_size, rnn_type=encoder.rnn_type, num_layers=encoder.num_layers,
                  bidirectional=encoder.bidirectional, dropout=encoder.dropout)
    if spec.modality == "text" and spec.processor.get("sentences"):
        return SentenceEncoder(vocab_size=source_vocab_size, embedding_size=embedding_size,
                               embedding_dropout=embedding_dropout, padding_idx=PAD_ID,
                               max_positions=spec.processor.get("max_sentences") or 100,
                               memory_unit=encoder.memory_unit, sentence_rnn=encoder.sentence_rnn,
                               recency_noise=encoder.recency_noise, bag_of_words=encoder.bag_of_words,
                               position_encoding=encoder.position_encoding, **common)
    if spec.modality == "text":
        return TextEncoder(vocab_size=source_vocab_size, embedding_size=embedding_size,
                           embedding_dropout=embedding_dropout, padding_idx=PAD_ID,
                           bag_of_words=encoder.bag_of_words, position_encoding=encoder.position_encoding,
                           **common)
    if spec.modality == "video":
        return VideoEncoder(cnn=encoder.cnn, cnn_weights=encoder.cnn_weights or None, freeze_cnn=encoder.freeze_cnn,
                            feature_size=encoder.feature_size, spatial_grid=encoder.spatial_grid,
                            frame_differences=encoder.frame_differences,
                            mirror_invariant=encoder.mirror_invariant, **common)
    if spec.modality == "audio":
        from seq2seq.processors import AudioProcessor

        feature_size = AudioProcessor.from_dict(spec.processor).feature_size
        return AudioEncoder(feature_size=feature_size, subsampling=encoder.subsampling,
                            conv_channels=encoder.conv_channels, **common)
    raise ValueError(f"unknown modality {spec.modality!r}")


def _share_text_weights(text_encoders: list[nn.Module], config: ModelConfig) -> None:
    """Text inputs share the source vocabulary, so they share one embedding: a word means the
    same in a question as in its context (and, with ``share_text_rnn``, one word-level RNN)."""
    for encoder in text_encoders[1:]:
        encoder.embedding = text_encoders[0].embedding
        if config.share_text_rnn:
            _share_rnn(text_encoders[0], encoder)
    if config.embedding_init_std and text_encoders:
        with torch.no_grad():
            text_encoders[0].embedding.weight.normal_(0.0, config.embedding_init_std)
            text_encoders[0].embedding.weight[PAD_ID].zero_()


def _share_rnn(first: nn.Module, other: nn.Module) -> None:
    """``other`` reads its text with ``first``'s (word-level) RNN."""
    rnn = first.word_rnn if hasattr(first, "word_rnn") else first.rnn
    name = "word_rnn" if hasattr(other, "word_rnn") else "rnn"
    mine = getattr(other, name)
    if (type(mine), mine.input_size, mine.hidden_size, mine.num_layers, mine.bidirectional) != (
            type(rnn), rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bidirectional):
        raise ValueError("share_text_rnn needs text inputs whose encoders have the same rnn_type, hidden_size, "
                         "num_layers and bidirectional")
    setattr(other, name, rnn)


def build_model(
    config: ModelConfig, inputs: dict[str, InputConfig], *, source_vocab_size: int, target_vocab_size: int,
    label_smoothing: float = 0.0,
) -> Seq2SeqModel:
    """The only place that reads a ModelConfig and the inputs' encoder configs. No inputs: a
    language model (the decoder alone)."""
    encoders = {name: build_encoder(spec, source_vocab_size=source_vocab_size, embedding_size=config.embedding_size,
                                    embedding_dropout=config.embedding_dropout) for name, spec in inputs.items()}
    _share_text_weights([encoders[name] for name, spec in inputs.items() if spec.modality == "text"], config)
    memory_size = next(iter(encoders.values())).output_size if encoders else config.decoder.hidden_size
    decoder_config = config.decoder
    decoder = AttentionDecoder(
        vocab_size=target_vocab_size,
        embedding_size=config.embedding_size,
        hidden_size=decoder_config.hidden_size,
        memory_size=memory_size,
        rnn_type=decoder_config.rnn_type,
        num_layers=decoder_config.num_layers,
        attention=decoder_config.attention,
        attention_size=decoder_config.attention_size,
        input_feeding=decoder_config.input_feeding,
        dropout=decoder_config.dropout,
        embedding_dropout=config.embedding_dropout,
        padding_idx=PAD_ID,
        tie_embeddings=decoder_config.tie_embeddings,
        fusion=config.fusion,
        num_inputs=1 if config.decoder_memory == "reader" and encoders else len(encoders),
    )
    description = {
        "model": config_to_dict(config),
        "inputs": {name: {"modality": spec.modality, "encoder": config_to_dict(spec.encoder),
                          "processor": spec.processor} for name, spec in inputs.items()},
        "source_vocab_size": source_vocab_size,
        "target_vocab_size": target_vocab_size,
    }
    return Seq2SeqModel(encoders=encoders, decoder=decoder, memory_size=memory_size, label_smoothing=label_smoothing,
                        ctc_weight=config.ctc_weight, target_vocab_size=target_vocab_size,
                        query_input=config.query_input, hops=config.hops, reader=config.reader,
                        decoder_memory=config.decoder_memory, hop_supervision=config.hop_supervision,
                        config=description)
