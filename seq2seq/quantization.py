"""Smaller, faster models for CPU inference: dynamic int8 quantization.

``quantize_int8(model)`` replaces every ``nn.Linear``, ``nn.GRU`` and ``nn.LSTM`` by PyTorch's
dynamically quantized version (``torch.ao``): weights are stored as int8 (one scale per tensor),
activations are quantized batch by batch as they come, and the products run in int8 (fbgemm /
oneDNN). Embeddings, convolutions and the Elman RNN (which has no int8 kernel) stay fp32. It is
for CPU inference only: quantized layers neither train nor run on a GPU.

A quantized model is saved as such (``config.json`` says ``"quantization": "int8"``): each
quantized weight as its int8 values, scale and zero point in ``model.safetensors``, about a
quarter of the fp32 size, and ``Seq2SeqModel.from_pretrained`` rebuilds the same int8 layers from
them, bit for bit, without the fp32 weights.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

QUANTIZATIONS = ("int8",)
_INT8_SUFFIXES = (".int8", ".scale", ".zero_point")


def _dynamic_types():
    from torch.ao.nn.quantized import dynamic

    return (dynamic.Linear, dynamic.GRU, dynamic.LSTM)


def check_quantization(quantization: str | None) -> None:
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)} (or none), got {quantization!r}")


def is_quantized(model: nn.Module) -> bool:
    return any(isinstance(module, _dynamic_types()) for module in model.modules())


def quantize_int8(model: nn.Module) -> nn.Module:
    """``model`` with its Linear, GRU and LSTM layers dynamically quantized to int8, in place (and
    returned), in eval mode. A model already quantized is returned as it is."""
    if is_quantized(model):
        return model
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 quantization is for CPU inference: load the model on the CPU")
    from torch.ao.quantization import quantize_dynamic

    model.eval()
    with warnings.catch_warnings():  # torch.ao's eager quantization warns that it will move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantize_dynamic(model, {nn.Linear, nn.GRU, nn.LSTM}, dtype=torch.qint8, inplace=True)
    return model


def _flatten(name: str, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    if weight.qscheme() != torch.per_tensor_affine:
        raise ValueError(f"{name}: only per-tensor int8 weights are saved, got {weight.qscheme()}")
    return {f"{name}.int8": weight.int_repr().contiguous(), f"{name}.scale": torch.tensor(weight.q_scale()),
            f"{name}.zero_point": torch.tensor(weight.q_zero_point())}


def _restore(state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    missing = [name + suffix for suffix in _INT8_SUFFIXES if name + suffix not in state]
    if missing:
        raise ValueError(f"int8 weights missing from the model file: {', '.join(missing)}")
    return torch._make_per_tensor_quantized_tensor(state[f"{name}.int8"], float(state[f"{name}.scale"]),
                                                   int(state[f"{name}.zero_point"]))


def quantized_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Plain tensors for safetensors: int8 values, scale and zero point of each quantized weight,
    the fp32 biases, and every other parameter and buffer as it is (a shared one once)."""
    linear, gru, lstm = _dynamic_types()
    state: dict[str, torch.Tensor] = {}
    quantized_prefixes = []
    for name, module in model.named_modules():
        if isinstance(module, linear):
            quantized_prefixes.append(name + ".")
            state.update(_flatten(f"{name}.weight", module.weight()))
            if module.bias() is not None:
                state[f"{name}.bias"] = module.bias().detach().clone()
        elif isinstance(module, (gru, lstm)):
            quantized_prefixes.append(name + ".")
            for key, weight in module.get_weight().items():
                state.update(_flatten(f"{name}.{key}", weight))
            state.update({f"{name}.{key}": bias.detach().clone() for key, bias in module.get_bias().items()})
    seen: set[int] = set()
    for name, tensor in model.state_dict().items():
        if any(name.startswith(prefix) for prefix in quantized_prefixes) or not isinstance(tensor, torch.Tensor):
            continue
        if tensor.data_ptr() in seen:  # a tied weight: stored once, filled in again when loaded
            continue
        seen.add(tensor.data_ptr())
        state[name] = tensor.detach().contiguous()
    return state


def load_quantized_state(model: nn.Module, state: dict[str, torch.Tensor],
                         aliases: dict[str, str] | None = None) -> None:
    """Fill a model just quantized by ``quantize_int8`` with ``quantized_state``'s tensors."""
    linear, gru, lstm = _dynamic_types()
    used: set[str] = set()
    prefixes = []
    for name, module in model.named_modules():
        if isinstance(module, linear):
            prefixes.append(name + ".")
            bias = state.get(f"{name}.bias")
            module.set_weight_bias(_restore(state, f"{name}.weight"), bias)
            used.update(f"{name}.weight{suffix}" for suffix in _INT8_SUFFIXES)
            used.add(f"{name}.bias")
        elif isinstance(module, (gru, lstm)):
            prefixes.append(name + ".")
            weights = {key: _restore(state, f"{name}.{key}") for key in module.get_weight()}
            biases = {key: state[f"{name}.{key}"] for key in module.get_bias()}
            module.set_weight_bias({**weights, **biases})
            used.update(f"{name}.{key}{suffix}" for key in weights for suffix in _INT8_SUFFIXES)
            used.update(f"{name}.{key}" for key in biases)
    rest = {key: value for key, value in state.items() if key not in used}
    for name, kept in (aliases or {}).items():
        if name not in rest and kept in rest:
            rest[name] = rest[kept]
    expected = {key for key, value in model.state_dict().items()
                if isinstance(value, torch.Tensor) and not any(key.startswith(prefix) for prefix in prefixes)}
    missing, unexpected = expected - set(rest), set(rest) - expected
    if missing or unexpected:
        raise ValueError(f"the int8 model file does not fit the model: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")
    # Copied in place: load_state_dict would want the quantized layers' packed weights back too.
    targets = {**dict(model.named_parameters(remove_duplicate=False)), **dict(model.named_buffers())}
    with torch.no_grad():
        for key, value in rest.items():
            if targets[key].shape != value.shape:
                raise ValueError(f"{key}: the int8 model file has shape {tuple(value.shape)}, the model "
                                 f"{tuple(targets[key].shape)}")
            targets[key].copy_(value)
