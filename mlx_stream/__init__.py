"""mlx-stream: speak streaming text aloud in another language, live.

from mlx_stream import Translator, Pipeline, load_synthesizer
translator = Translator.from_pretrained("weights/nllb-600m-q8")
pipe = Pipeline(translator, load_synthesizer("auto", language="jpn_Jpan"))
pipe.speak("Hello, how are you today?")   # plays in Jupyter
"""

from importlib import import_module

from . import blas
from .errors import MlxStreamError

blas.load()  # before anything imports mlx: see blas.py

__version__ = "0.1.0"

# Imported on first use, so `import mlx_stream` (and the CLI's start) stays fast.
_LAZY = {
    "Translator": "translate",
    "Pipeline": "pipeline",
    "Report": "pipeline",
    "Sentence": "pipeline",
    "SpeechResult": "pipeline",
    "Synthesizer": "tts",
    "XttsSynthesizer": "tts",
    "MlxXttsSynthesizer": "tts",
    "EspeakSynthesizer": "tts",
    "SaySynthesizer": "tts",
    "load_synthesizer": "tts",
    "Player": "audio",
    "WavSink": "audio",
    "RawSink": "audio",
    "NullSink": "audio",
    "MemorySink": "audio",
    "TextFrontEnd": "text",
    "SentenceSegmenter": "text",
    "resolve_language": "nllb.languages",
}

__all__ = ["MlxStreamError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'mlx_stream' has no attribute '{name}'")


def __dir__():
    return __all__
