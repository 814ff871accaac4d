"""Video encoder: a CNN on every frame, then a (bi)directional RNN over time.

Frames of a batch are flattened into one CNN batch, and only real frames go through the CNN,
so padding never changes the output. The CNN is either a small one that trains quickly on a CPU
(GroupNorm, so results do not depend on what else is in the batch) or torchvision's ResNet-18,
with weights read from a local file when given; nothing is ever downloaded. With a frozen CNN,
per-frame features can be computed once and cached: ``forward`` then takes features (B, T, F)
instead of frames (B, T, C, H, W). A ``mirror_invariant`` encoder sees each frame and its mirror
and keeps what does not depend on which is which, so a clip and its mirror get the same encoding,
hence the same label: for actions that do not depend on left and right, the symmetry is built
in, not learned.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from seq2seq.encoders.base import EncoderOutput
from seq2seq.rnn import last_layer_final, make_rnn, run_rnn

CNN_TYPES = ("small", "resnet18")


def small_cnn(feature_size: int = 128, width: int = 32, spatial_grid: int = 4, in_channels: int = 3) -> nn.Module:
    """Four stride-2 conv blocks, then pooling to a ``spatial_grid`` x ``spatial_grid`` map and a
    linear layer: (N, 3, H, W) -> (N, feature_size).

    Global average pooling (``spatial_grid=1``) would keep *what* is in a frame but not *where*:
    motion classes such as moving left or right need the coarse position the grid keeps.
    """
    channels = [in_channels, width, 2 * width, 4 * width, 4 * width]
    blocks = []
    for in_channels, out_channels in zip(channels, channels[1:], strict=False):
        blocks += [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
                   nn.GroupNorm(8, out_channels), nn.ReLU(inplace=True)]
    head = [nn.Linear(channels[-1] * spatial_grid**2, feature_size), nn.ReLU(inplace=True)]
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(spatial_grid), nn.Flatten(), *head)


def resnet18(weights_path: str | Path | None = None) -> nn.Module:
    """torchvision's ResNet-18 without its classifier: (N, 3, H, W) -> (N, 512).

    ``weights_path``: a local ``.safetensors`` file or a state dict saved by ``torch.save``
    (read with ``weights_only=True``, so it cannot run code); ``None`` starts from random weights.
    """
    import torchvision

    model = torchvision.models.resnet18(weights=None)
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"CNN weights file not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if [k for k in missing if not k.startswith("fc.")] or unexpected:
            raise ValueError(f"{path} is not a ResNet-18 state dict "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.fc = nn.Identity()
    return model


class VideoEncoder(nn.Module):
    def __init__(
        self,
        *,
        hidden_size: int,
        cnn: str = "small",
        cnn_weights: str | Path | None = None,
        freeze_cnn: bool = False,
        feature_size: int = 128,
        spatial_grid: int = 4,
        frame_differences: bool = False,
        mirror_invariant: bool = False,
        rnn_type: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if cnn not in CNN_TYPES:
            raise ValueError(f"cnn must be one of {', '.join(CNN_TYPES)}, got {cnn!r}")
        self.frame_differences = frame_differences
        self.mirror_invariant = mirror_invariant
        if cnn == "small":
            if cnn_weights is not None:
                raise ValueError("cnn_weights loads ResNet-18 weights; the small CNN always starts from scratch")
            self.cnn = small_cnn(feature_size, spatial_grid=spatial_grid, in_channels=6 if frame_differences else 3)
            self.feature_size = feature_size
        else:
            if frame_differences:
                raise ValueError("frame_differences needs the small CNN (ResNet-18 takes 3 channels)")
            self.cnn, self.feature_size = resnet18(cnn_weights), 512
        if mirror_invariant:
            self.feature_size *= 2  # the maximum and the minimum of each feature over frame and mirror
        self.freeze_cnn = freeze_cnn
        if freeze_cnn:
            self.cnn.requires_grad_(False)
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.rnn = make_rnn(rnn_type=rnn_type, input_size=self.feature_size, hidden_size=hidden_size,
                            num_layers=num_layers, bidirectional=bidirectional, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def train(self, mode: bool = True) -> VideoEncoder:
        super().train(mode)
        if self.freeze_cnn:
            self.cnn.eval()  # a frozen CNN keeps its normalisation statistics
        return self

    def frame_features(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-frame CNN features (B, T, F) of float frames (B, T, C, H, W); zero at padding.

        With ``frame_differences`` each frame is stacked with its difference to the next frame
        (zero for the last real one), the cheap motion cue of TSN's "RGB difference": which way
        an object turns or moves shows in one difference image, not in one frame. With
        ``mirror_invariant`` a frame's features are the elementwise maximum and minimum of the CNN's
        features of the frame and of its horizontal mirror (2F values): mirroring the clip only
        swaps the two, and unlike their mean, the pair still tells one waving hand from two.
        """
        if self.frame_differences:
            both_real = (mask[:, 1:] & mask[:, :-1]).view(*mask[:, 1:].shape, 1, 1, 1)
            differences = (frames[:, 1:] - frames[:, :-1]) * both_real
            frames = torch.cat([frames, torch.cat([differences, torch.zeros_like(frames[:, :1])], dim=1)], dim=2)
        features = frames.new_zeros(*mask.shape, self.feature_size)
        real_frames = frames[mask]  # (N, C, H, W): only real frames go through the CNN
        real = self.cnn(real_frames)
        if self.mirror_invariant:
            mirrored = self.cnn(real_frames.flip(-1))
            real = torch.cat([torch.maximum(real, mirrored), torch.minimum(real, mirrored)], dim=-1)
        return features.masked_scatter(mask.unsqueeze(-1), real.to(features.dtype))

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        """Encode frames (B, T, C, H, W) or cached features (B, T, F), ``mask`` (B, T) True at real frames.

        Returns states (B, T, D*H), the mask, and the top layer's final state (B, D*H).
        """
        if values.dim() == 5:
            features = self.frame_features(values, mask)
        elif values.dim() == 3 and values.size(-1) == self.feature_size:
            features = values
        else:
            raise ValueError(f"video input must be frames (B, T, C, H, W) or features (B, T, {self.feature_size}), "
                             f"got shape {tuple(values.shape)}")
        if mask.shape != features.shape[:2]:
            raise ValueError(f"video mask has shape {tuple(mask.shape)}, expected {tuple(features.shape[:2])}")
        lengths = mask.sum(dim=1)
        if bool((lengths == 0).any()):
            rows = (lengths == 0).nonzero().squeeze(1).tolist()
            raise ValueError(f"video input has no frames in batch rows {rows}")
        states, final = run_rnn(self.rnn, self.dropout(features), lengths)  # (B, T, D*H)
        final = last_layer_final(final, num_layers=self.num_layers, bidirectional=self.bidirectional)
        return EncoderOutput(self.dropout(states), mask, final)
