"""seq2seq: attention-based recurrent sequence-to-sequence models over text, video and audio."""

from seq2seq.builders import build_model
from seq2seq.config import Config, load_config
from seq2seq.model import Seq2SeqModel
from seq2seq.tokenization import Tokenizer

__all__ = ["Config", "Seq2SeqModel", "Tokenizer", "build_model", "load_config"]
__version__ = "0.1.0"
