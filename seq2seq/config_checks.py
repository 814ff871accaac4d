"""Settings that cannot work together, or not with the task: checked before any work starts (one line each)."""

from __future__ import annotations

from seq2seq.columns import resolve_columns
from seq2seq.config import Config, ConfigError
from seq2seq.processors import build_processor
from seq2seq.strict import did_you_mean
from seq2seq.task import Task


def check_reader(config: Config) -> None:
    """Multi-hop reading settings that cannot work together."""
    if config.model.hop_supervision:
        if not config.model.hops:
            raise ConfigError("model.hop_supervision needs model.hops >= 1 (it supervises what the hops read)")
        read = [name for name in config.inputs if name != config.model.query_input]
        if len(read) != 1 or config.inputs[read[0]].encoder.memory_unit != "sentences":
            raise ConfigError("model.hop_supervision needs the hops to read one input with memory_unit: sentences "
                              "(supporting facts are sentence positions)")
        if config.data.streaming:
            raise ConfigError("model.hop_supervision reads supporting facts from map-style data; set "
                              "data.streaming: false")
    if config.model.decoder_memory == "reader" and not config.model.hops:
        raise ConfigError("model.decoder_memory: reader needs model.hops >= 1 (the hops' queries are its memory)")
    if config.model.decoder_memory == "reader" and config.model.fusion == "gate":
        raise ConfigError("model.fusion: gate mixes one attention per input; with decoder_memory: reader the "
                          "decoder reads one memory (use fusion: concat)")


def check_task_inputs(config: Config, task: Task, configured: dict[str, str]) -> None:
    """The config's inputs are ones the task feeds (none: a language model, the decoder alone)."""
    if not task.inputs:
        check_language_model(config, task)
    elif not configured or any(task.inputs.get(name) != modality for name, modality in configured.items()):
        wanted = ", ".join(f"{name} ({modality})" for name, modality in task.inputs.items())
        given = ", ".join(f"{name} ({modality})" for name, modality in configured.items()) or "none"
        one_or_more = " (one or more of them)" if len(task.inputs) > 1 else ""
        raise ConfigError(f"inputs: the {task.name} task feeds {wanted}{one_or_more}; the config lists {given}")


def check_config(config: Config, task: Task) -> None:
    """Settings that depend on the task, checked before any work starts (a task with checks of
    its own, ``check_config``, replaces these)."""
    own_checks = getattr(task, "check_config", None)
    if own_checks is not None:
        own_checks(config)
        return
    configured = {name: spec.modality for name, spec in config.inputs.items()}
    check_task_inputs(config, task, configured)
    resolve_columns(task.columns, config.data.columns, task.name)
    check_inputs = getattr(task, "check_inputs", None)  # which combinations of its inputs a task takes
    if check_inputs is not None:
        check_inputs(list(configured))
    if config.model.query_input and config.model.query_input not in configured:
        raise ConfigError(f"model.query_input: {config.model.query_input!r} is not one of the inputs "
                          f"({', '.join(configured)})")
    if config.model.hops and not config.model.query_input and len(configured) > 1:
        raise ConfigError("model.hops with several inputs needs model.query_input (the input that asks)")
    check_reader(config)
    for name, spec in config.inputs.items():
        build_processor(spec.modality, spec.processor, None, name)  # settings errors now, not after data loading
        by_sentence = (spec.encoder.memory_unit, spec.encoder.sentence_rnn, spec.encoder.recency_noise)
        if by_sentence != ("tokens", True, 0.0) and not (spec.modality == "text" and spec.processor.get("sentences")):
            raise ConfigError(f"inputs.{name}.encoder: memory_unit, sentence_rnn and recency_noise are for text read "
                              "sentence by sentence (processor: {sentences: true})")
        if spec.encoder.bag_of_words and spec.modality != "text":
            raise ConfigError(f"inputs.{name}.encoder.bag_of_words is for text inputs")
        if spec.encoder.position_encoding != "none" and not spec.encoder.bag_of_words:
            raise ConfigError(f"inputs.{name}.encoder.position_encoding weights the bag of words: it needs "
                              "bag_of_words: true")
        if spec.encoder.cache_features and not spec.encoder.freeze_cnn:
            raise ConfigError(f"inputs.{name}.encoder.cache_features needs freeze_cnn: true (a CNN that trains "
                              "changes its features every update)")
    tc = config.training
    if tc.restarts > 1 and not 0 < tc.restart_steps < (tc.max_steps or float("inf")):
        raise ConfigError(f"training.restarts={tc.restarts} needs training.restart_steps: the updates each candidate "
                          "trains before the best is chosen (more than 0, fewer than training.max_steps)")
    if config.data.streaming:
        check_streaming(config)
    check_continued(config)
    for name in tc.metrics:
        if name not in task.metric_names:
            raise ConfigError(f"training.metrics: the {task.name} task has no metric {name!r}"
                              f"{did_you_mean(name, task.metric_names)} (available: {', '.join(task.metric_names)})")
    reported = tc.metrics or list(task.metric_names)
    if tc.eval_metric not in reported:
        raise ConfigError(f"training.eval_metric: {tc.eval_metric!r} is not among the reported metrics"
                          f"{did_you_mean(tc.eval_metric, reported)} (reported: {', '.join(reported)})")


def check_continued(config: Config) -> None:
    """Continued training and replay (``continued.py``)."""
    tc, data = config.training, config.data
    if tc.init_from and tc.restarts > 1:
        raise ConfigError("training.restarts starts candidates from fresh seeds; training.init_from starts from a "
                          "trained model: use one")
    if bool(data.replay_path) != (data.replay_fraction > 0):
        raise ConfigError("data.replay_path and data.replay_fraction go together: the old data, and its share "
                          f"(> 0) of the new (got replay_path={data.replay_path!r}, "
                          f"replay_fraction={data.replay_fraction})")
    if data.replay_path and data.streaming:
        raise ConfigError("data.replay_path mixes old rows into map-style data; it does not work with streaming")


def check_language_model(config: Config, task: Task) -> None:
    """A task without inputs (language modelling) trains the decoder alone, on blocks of text."""
    if config.inputs:
        raise ConfigError(f"inputs: the {task.name} task trains the decoder alone; the config lists "
                          f"{', '.join(config.inputs)} (write inputs: {{}})")
    data, decoder = config.data, config.model.decoder
    if data.block_size and data.max_target_length and data.block_size >= data.max_target_length:
        raise ConfigError(f"data.block_size={data.block_size} characters needs data.max_target_length > "
                          f"{data.block_size} tokens (longer training blocks would be dropped)")
    if decoder.input_feeding:
        raise ConfigError("model.decoder.input_feeding feeds attention back; a language model has nothing to attend")
    if config.model.hops or config.model.ctc_weight or config.model.query_input:
        raise ConfigError("model.hops, ctc_weight and query_input need inputs; a language model has none")


def check_streaming(config: Config) -> None:
    """What streaming cannot do (see ``streaming.py``), said before any work starts."""
    tc = config.training
    if tc.lr_schedule in ("linear", "cosine") and not tc.max_steps:
        raise ConfigError(f"training.lr_schedule={tc.lr_schedule} decays over the whole run, whose length a stream "
                          "does not know: set training.max_steps (or use constant / inverse_sqrt)")
    if tc.num_workers:
        raise ConfigError("training.num_workers: streamed data is read by the training process itself; set it to 0")
    for name, spec in config.inputs.items():
        if spec.encoder.cache_features:
            raise ConfigError(f"inputs.{name}.encoder.cache_features needs map-style data (data.streaming: false)")
