"""One processor per modality: raw input -> model-ready tensors, saved with the model as JSON.

The same processor object prepares training data and pipeline input, so preprocessing cannot
drift between them; train-time augmentation is a flag of the call, not a second code path.
"""

from seq2seq.processors.video import VideoProcessor

__all__ = ["VideoProcessor"]
