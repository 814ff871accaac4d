"""One encoder per modality; each returns an :class:`EncoderOutput`."""

from seq2seq.encoders.audio import AudioEncoder
from seq2seq.encoders.base import EncoderOutput
from seq2seq.encoders.text import SentenceEncoder, TextEncoder
from seq2seq.encoders.video import VideoEncoder

__all__ = ["AudioEncoder", "EncoderOutput", "SentenceEncoder", "TextEncoder", "VideoEncoder"]
