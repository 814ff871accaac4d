"""One encoder per modality; each returns an :class:`EncoderOutput`."""

from seq2seq.encoders.base import EncoderOutput
from seq2seq.encoders.text import TextEncoder

__all__ = ["EncoderOutput", "TextEncoder"]
