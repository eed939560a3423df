"""Converted XTTS v2 weights: `convert` coqui's checkpoint into MLX safetensors, and `load` them.

Both directions live here so that what is written and what is read cannot drift apart. A
converted folder holds `config.json` (coqui's config, `model_args` completed from the vocab as
coqui does at load time, plus our `"mlx_stream"` entry with the sources' sha256 and, when
quantized, `"quantization"`), `model.safetensors` (the GPT and the HiFi-GAN: all that speaking
with a known voice needs), `cloning.safetensors` (the two encoders that turn recordings into
voices), `speakers.safetensors` (the built-in voices) and coqui's `vocab.json`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from .. import weights as toolkit
from ..errors import MlxStreamError
from .config import InferenceArgs, ModelArgs
from .model import CLONING_PARTS, Model, canonical
from .tokenizer import Tokenizer

SOURCE_FILES = ["config.json", "model.pth", "vocab.json", "speakers_xtts.pth"]
SPEAKERS_FILE = "speakers.safetensors"
LICENCE = "XTTS v2 weights are under the Coqui Public Model License, non-commercial use only"
FORMAT = 1
WHAT = "an XTTS v2 checkpoint (config.json, model.pth, vocab.json)"


def convert_command(source: str | os.PathLike) -> str:
    return f"mlx-stream convert xtts --hf-path {source} --mlx-path weights/<name>"


def is_converted(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds XTTS weights written by `convert`."""
    folder = Path(folder)
    if not toolkit.is_converted(folder):
        return False
    config = toolkit.read_json(folder / toolkit.CONFIG_FILE, WHAT)
    return config.get("model") == "xtts"


def read_config(folder: Path) -> dict:
    config = toolkit.read_json(folder / toolkit.CONFIG_FILE, WHAT)
    if not isinstance(config, dict) or config.get("model") != "xtts":
        kind = config.get("model_type") or config.get("model") if isinstance(config, dict) else None
        raise MlxStreamError(
            f"'{folder}' holds a '{kind}' model, not XTTS v2: pass an XTTS v2 checkpoint "
            "such as coqui/XTTS-v2"
        )
    if not isinstance(config.get("model_args"), dict):
        raise MlxStreamError(f"'{folder / 'config.json'}' has no model_args: download it again")
    return config


def model_args(config: dict) -> ModelArgs:
    return ModelArgs.from_dict(config["model_args"])


def inference_args(config: dict) -> InferenceArgs:
    """The sampling and cloning settings, read from the top of config.json as coqui does."""
    return InferenceArgs.from_dict(config)


def load(folder: str | os.PathLike) -> tuple[Model, dict]:
    """The model and config of a converted folder; quantized layers are rebuilt as saved."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MlxStreamError(
            f"'{folder}' is not a folder: convert an XTTS v2 checkpoint there first"
        )
    config = read_config(folder)
    toolkit.check_converted(folder, config, convert_command(folder), FORMAT)
    model = Model(model_args(config))
    weights = toolkit.load_safetensors(folder, "model")
    weights.update(toolkit.load_safetensors(folder, "cloning"))
    toolkit.load_weights(model, weights, folder, config.get("quantization"))
    return model, config


def load_speakers(folder: str | os.PathLike) -> dict[str, tuple[mx.array, mx.array]]:
    """Built-in voices: name -> (gpt_cond_latent (1, 32, d), speaker_embedding (1, d_vector))."""
    path = Path(folder) / SPEAKERS_FILE
    if not path.is_file():
        return {}
    tensors = toolkit.read_safetensors([path])
    names = sorted({key.rsplit("/", 1)[0] for key in tensors})
    return {
        name: (tensors[f"{name}/gpt_cond_latent"], tensors[f"{name}/speaker_embedding"])
        for name in names
    }


def convert(
    hf_path: str | os.PathLike,
    mlx_path: str | os.PathLike,
    dtype: str | None = None,
    q_bits: int | None = None,
    q_group_size: int = 64,
    force: bool = False,
) -> toolkit.ConversionSummary:
    """Convert coqui's XTTS v2 checkpoint (a folder or hub id) into a folder `load` reads.

    `dtype` applies to every weight; with `q_bits`, only the linears of the GPT's transformer
    blocks are quantized (the embeddings, the output head, the encoders and the HiFi-GAN stay in
    `dtype`). The source is only read: its sha256 is recorded in config.json.
    """
    dtype = dtype or toolkit.default_dtype()
    toolkit.check_settings(dtype, q_bits)
    mlx_path = Path(mlx_path)
    toolkit.check_target(mlx_path, force)
    source = toolkit.resolve_source(hf_path, SOURCE_FILES, "XTTS v2 model", LICENCE)
    config = read_config(source)
    missing = [n for n in SOURCE_FILES[:3] if not (source / n).is_file()]
    if missing:
        raise MlxStreamError(f"'{source}' lacks {', '.join(missing)}: pass a folder holding {WHAT}")
    tokenizer = Tokenizer.from_file(source / "vocab.json")
    config["model_args"] = {
        **config["model_args"],
        "gpt_number_text_tokens": tokenizer.vocab_size,
        "gpt_start_text_token": tokenizer.start_id,
        "gpt_stop_text_token": tokenizer.stop_id,
    }
    state = canonical(toolkit.read_torch_weights(source / "model.pth", key="model"))
    conv_pre = state.get("hifigan_decoder.waveform_decoder.conv_pre.weight")
    if conv_pre is not None:
        config["model_args"]["decoder_channels"] = conv_pre.shape[0]
    model = Model(model_args(config))
    try:
        weights = Model.sanitize(state)
        model.load_weights(list(weights.items()), strict=True)
    except (ValueError, KeyError) as e:
        reason = " ".join(str(e).split())[:160]
        raise MlxStreamError(
            f"the weights in '{source / 'model.pth'}' do not match its config.json ({reason}): "
            "download the checkpoint again"
        ) from None
    del state, weights
    model.set_dtype(toolkit.DTYPES[dtype])
    parameters = toolkit.count_parameters(model)
    quantization = None
    if q_bits is not None:
        quantization = toolkit.quantize(
            model,
            q_group_size,
            q_bits,
            lambda path, module: path.startswith("gpt.h.") and isinstance(module, nn.Linear),
        )
    speakers = _read_speakers(source / "speakers_xtts.pth")
    sources = {n: toolkit.sha256(source / n) for n in SOURCE_FILES if (source / n).is_file()}
    config = toolkit.mark(config, quantization, format=FORMAT, dtype=dtype, sources=sources)
    speech, cloning = _split(dict(tree_flatten(model.parameters())))
    with toolkit.atomic_folder(mlx_path) as staging:
        toolkit.save_safetensors(staging, speech, "model")
        toolkit.save_safetensors(staging, cloning, "cloning")
        if speakers:
            mx.save_safetensors(str(staging / SPEAKERS_FILE), speakers, metadata={"format": "mlx"})
        shutil.copyfile(source / "vocab.json", staging / "vocab.json")
        toolkit.write_json(staging / toolkit.CONFIG_FILE, config)
    return toolkit.ConversionSummary(
        path=mlx_path,
        parameters=parameters,
        bytes_before=(source / "model.pth").stat().st_size,
        bytes_after=sum(f.stat().st_size for f in mlx_path.glob("*.safetensors")),
        dtype=dtype,
        bits=q_bits,
    )


def _split(weights: dict[str, mx.array]) -> tuple[dict, dict]:
    cloning = {k: v for k, v in weights.items() if k.split(".", 1)[0] in CLONING_PARTS}
    speech = {k: v for k, v in weights.items() if k not in cloning}
    return speech, cloning


def _read_speakers(path: Path) -> dict[str, mx.array]:
    """coqui's `speakers_xtts.pth` as flat tensors: `<name>/gpt_cond_latent`, `<name>/speaker_embedding`."""
    if not path.is_file():
        return {}
    speakers = toolkit.read_torch(path)
    tensors = {}
    try:
        for name, voice in speakers.items():
            latent = np.asarray(voice["gpt_cond_latent"], np.float32)
            embedding = np.asarray(voice["speaker_embedding"], np.float32)
            tensors[f"{name}/gpt_cond_latent"] = mx.array(latent.reshape(1, *latent.shape[-2:]))
            tensors[f"{name}/speaker_embedding"] = mx.array(embedding.reshape(1, -1))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise MlxStreamError(
            f"'{path}' is not an XTTS speakers file: download coqui/XTTS-v2 again"
        ) from None
    return tensors
