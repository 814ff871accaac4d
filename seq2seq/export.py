"""Export a trained text model for deployment: ONNX graphs of its encoder and of one decoder step.

``export_onnx(model_dir, output_dir)`` writes

- ``encoder.onnx``: source ids (1, S) -> the memory (1, S, M), its attention keys (1, S, A) and
  the decoder's start state, packed in one tensor (``pack_state``);
- ``decoder_step.onnx``: the previous token (1,), the memory, keys and state -> the next token's
  logits (1, V) and the new state;
- ``export.json`` (ids, length limits), the tokenizer's SentencePiece files, and the runner
  ``translate.py`` (a copy of ``exported.py``).

``seq2seq/exported.py`` decodes greedily with them through onnxruntime, with numpy and
sentencepiece only: no PyTorch, no training code, and no pickle anywhere (ONNX is protobuf). The
graphs take one unpadded sequence (the exporter cannot trace packing's data-dependent shapes,
and one sentence needs none). The exporter is torch.onnx's (``dynamo=True``), which needs the
``export`` extra (onnx, onnxscript; onnxruntime to run).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seq2seq.config import GenerationConfig, config_to_dict
from seq2seq.decoder import DecoderState, Memory
from seq2seq.encoders.text import TextEncoder
from seq2seq.model_files import replace_directory
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID

EXPORT_FILE = "export.json"
EXPORT_FORMAT = "seq2seq-onnx-greedy"


def check_exportable(model) -> str:
    """The model's one text input, or a ValueError saying why it cannot be exported."""
    if len(model.encoders) != 1 or not isinstance(next(iter(model.encoders.values())), TextEncoder):
        raise ValueError("export takes a model with one flat text input (translation); this one has "
                         f"{', '.join(f'{n} ({type(e).__name__})' for n, e in model.encoders.items()) or 'no input'}")
    if model.reader is not None:
        raise ValueError("a model with hops cannot be exported")
    return next(iter(model.encoders))


def pack_state(state: DecoderState) -> torch.Tensor:
    """The decoder's recurrent state as one tensor (P, B, H): the hidden layers, then an LSTM's
    cells, then the attentional vector fed back (input feeding). One input and one output of the
    step graph whatever the decoder (the exporter takes no tuples of varying length)."""
    hidden = state.hidden if isinstance(state.hidden, tuple) else (state.hidden,)
    extra = () if state.att_vector is None else (state.att_vector.unsqueeze(0),)
    return torch.cat([*hidden, *extra])


def unpack_state(decoder, packed: torch.Tensor) -> DecoderState:
    layers = decoder.num_layers
    hidden = (packed[:layers], packed[layers : 2 * layers]) if decoder.is_lstm else packed[:layers]
    return DecoderState(hidden, packed[-1] if decoder.input_feeding else None)


class ExportedEncoder(nn.Module):
    """source (1, S) -> states (1, S, M), keys (1, S, A), the packed start state (P, 1, H)."""

    def __init__(self, model, input_name: str):
        super().__init__()
        self.model, self.input_name = model, input_name

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from seq2seq.data import Batch

        batch = Batch({self.input_name: (source, torch.ones_like(source, dtype=torch.bool))})
        state, memory = self.model.start(batch)
        return memory.states, memory.keys, pack_state(state)


class ExportedStep(nn.Module):
    """prev (1,), states, keys, packed state -> logits (1, V), the new packed state."""

    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, prev: torch.Tensor, states: torch.Tensor, keys: torch.Tensor,
                state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory = Memory(states, torch.ones(states.shape[:2], dtype=torch.bool), keys)
        logits, new_state, _ = self.decoder.step(prev, unpack_state(self.decoder, state), memory)
        return logits, pack_state(new_state)


def export_onnx(model_dir: str | Path, output_dir: str | Path) -> Path:
    """Write the ONNX export of the model in ``model_dir`` to ``output_dir`` (atomically)."""
    from seq2seq.model import Seq2SeqModel

    model_dir, output_dir = Path(model_dir), Path(output_dir)
    model = Seq2SeqModel.from_pretrained(model_dir)
    if model.config.get("quantization"):
        raise ValueError(f"{model_dir} holds an int8 model: export the fp32 model it was made from")
    input_name = check_exportable(model)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        export_graphs(model, input_name, staging)
        for name in ("source.spm", "target.spm", "tokenizer_config.json"):
            if (model_dir / name).is_file():
                shutil.copy(model_dir / name, staging / name)
        tokenizer = json.loads((model_dir / "tokenizer_config.json").read_text())
        generation = {**config_to_dict(GenerationConfig()), **model.config.get("generation", {})}
        description: dict[str, Any] = {
            "format": EXPORT_FORMAT, "task": model.config.get("task", "translation"),
            "bos_id": BOS_ID, "eos_id": EOS_ID, "pad_id": PAD_ID,
            **{name: generation[name] for name in ("max_length", "max_length_a", "max_length_b")},
            "source_tokenizer": tokenizer["files"]["source"],
            "target_tokenizer": tokenizer["files"].get("target", tokenizer["files"]["source"]),
        }
        (staging / EXPORT_FILE).write_text(json.dumps(description, indent=2))
        # The runner travels with the graphs: the folder alone translates (python translate.py ...).
        shutil.copy(Path(__file__).with_name("exported.py"), staging / "translate.py")
        replace_directory(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def export_graphs(model, input_name: str, directory: Path) -> None:
    """``encoder.onnx`` and ``decoder_step.onnx`` of ``model`` (in eval mode) into ``directory``."""
    encoder, step = ExportedEncoder(model, input_name).eval(), ExportedStep(model).eval()
    example = torch.tensor([[5, 6, 7, 8, EOS_ID]])
    length = torch.export.Dim("source_length", min=1, max=4096)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export(encoder, (example,), directory / "encoder.onnx", input_names=["source"],
                output_names=["states", "keys", "state"], dynamic_shapes={"source": {1: length}})
        states, keys, state = encoder(example)
        _export(step, (torch.tensor([BOS_ID]), states, keys, state), directory / "decoder_step.onnx",
                input_names=["prev", "states", "keys", "state"], output_names=["logits", "next_state"],
                dynamic_shapes={"prev": None, "states": {1: length}, "keys": {1: length}, "state": None})


def _export(module: nn.Module, args: tuple, path: Path, **options: Any) -> None:
    try:
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as error:
        raise ImportError("ONNX export needs onnx and onnxscript: pip install 'seq2seq[export]'") from error
    # torch.onnx swaps in a while-loop decomposition of GRU and LSTM (dynamic sequence lengths) and
    # puts the old one back, but the ops' dispatch caches keep whichever kernel ran first: cleared,
    # so a second export in one process is not specialised to the example's length.
    for op in (torch.ops.aten.gru.input, torch.ops.aten.lstm.input, torch.ops.aten.rnn_tanh.input):
        getattr(op, "_dispatch_cache", {}).clear()
    program = torch.onnx.export(module, args, dynamo=True, optimize=True, verbose=False, **options)
    program.save(str(path))
