"""The book's trained models in the reader's browser: ONNX export and the input explorers.

On the static website an explorer can only replay what the build computed --
unless the model itself travels with the page. The functions here export the
exact weights a chapter trained (``torch.onnx.export``, opset 20) together with
what the browser needs to use them -- the vocabularies and a PyTorch reference
for fixed inputs that the browser tests compare against -- and return a
:class:`~attnbook.viz.HeatmapExplorer` with an input box (chapter 4: a date).

Where it runs:

* the book's build (``$ATTNBOOK_STATIC_PAGE`` set): the files go to
  :func:`model_dir` (``_build/browser_models/<name>/`` next to the execution
  cache, so a cached chapter keeps them); ``bookext`` copies them into the site
  and fails the build if a page needs one that is missing. The front-end loads
  ``onnxruntime-web`` and the model only when the reader first types;
* a live kernel (Jupyter, Colab): nothing is exported; the same input box sends
  the text to Python, which recomputes with PyTorch.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from attnbook._checks import check_tensor
from attnbook.data.vocab import BOS
from attnbook.decoding import Memory, translate
from attnbook.seq2seq import Seq2Seq
from attnbook.telemetry import MODEL_DIR_ENV, model_dir
from attnbook.train import STATIC_PAGE_ENV
from attnbook.transformer import Transformer
from attnbook.vit import VisionTransformer, attention_rollout
from attnbook.viz.explorer import HeatmapExplorer

__all__ = [
    "MODEL_DIR_ENV",
    "export_transformer",
    "export_translator",
    "export_vit",
    "model_dir",
    "transformer_explorer",
    "translator_explorer",
    "vit_explorer",
    "vit_frames",
]

OPSET = 20


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the CPU in eval mode; the chapter's model stays as it is.

    Tensors a forward pass left on the modules (stored attention weights, still part of
    an autograd graph) cannot be deep-copied: the copy gets them detached."""
    memo: dict[int, Any] = {}
    for module in model.modules():
        for value in vars(module).values():
            items = value if isinstance(value, list | tuple) else [value]
            for t in items:
                if isinstance(t, torch.Tensor) and t.grad_fn is not None:
                    memo[id(t)] = t.detach()
    return copy.deepcopy(model, memo).cpu().eval()


def _vocab_meta(task: Any) -> dict[str, Any]:
    """What the browser's tokeniser and decoding loop need of a translation task."""
    return {
        "src_tokens": list(task.src_vocab.tokens),
        "tgt_tokens": list(task.tgt_vocab.tokens),
        "sep": task.src_vocab.sep,
        "max_source_len": task.max_source_len,
        "max_target_len": task.max_target_len,
    }


def _write_json(folder: pathlib.Path, meta: Any, reference: Any) -> None:
    """``meta.json`` (what the page's code needs) and ``reference.json`` (PyTorch's
    results on fixed inputs, for the browser tests) beside the exported graphs."""
    for name, value in (("meta.json", meta), ("reference.json", reference)):
        (folder / name).write_text(json.dumps(value), encoding="utf-8")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.replace("-", "").isalnum():
        raise ValueError(
            f"name must be letters, digits and '-' (a folder of the site), got {name!r}"
        )
    return name


def _check_model(model: object, kind: type) -> None:
    """The model an explorer or export is for: chapter 4's Seq2Seq with attention, chapter 7's
    Transformer or chapter 9's VisionTransformer with a class token."""
    if kind is Seq2Seq:
        ok, want = isinstance(model, Seq2Seq), "a Seq2Seq with attention"
        ok = ok and model.decoder.attention is not None
    elif kind is VisionTransformer:
        ok, want = (
            isinstance(model, VisionTransformer),
            "a VisionTransformer with a class token",
        )
        ok = ok and model.pool == "cls"
    else:
        ok, want = isinstance(model, kind), f"a {kind.__name__}"
    if not ok:
        raise TypeError(f"model must be {want}, got {type(model).__name__}")


def _check_examples(examples: object, at_least: int) -> list[str]:
    """Reference inputs: a list (or tuple) of at least ``at_least`` non-blank strings."""
    if not isinstance(examples, (list, tuple)) or len(examples) < at_least:
        raise TypeError(
            f"examples must be a list of at least {at_least} strings, got {examples!r:.80}"
        )
    for text in examples:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"every example must be a non-empty str, got {text!r}")
    return list(examples)


def _export(
    graph: nn.Module,
    args: tuple,
    path: pathlib.Path,
    inputs: list[str],
    outputs: list[str],
    dynamic: dict[str, dict[int, str]],
) -> None:
    """``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``: a tenth of a
    second per graph where the default exporter takes seconds); its tracer warnings are
    about the input checks it skips while tracing, and are silenced."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, args, str(path), input_names=inputs, output_names=outputs,
            dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
        )  # fmt: skip


class _Encoder(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor, src_len: torch.Tensor):
        memory, state = self.model.encode(src, src_len)
        return memory.outputs, state


class _Step(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, y, state, outputs, src_len):
        return self.model.decoder.step(y, state, Memory(outputs, src_len))


def export_translator(
    model: Seq2Seq, task: Any, name: str, examples: list[str]
) -> pathlib.Path:
    """Export chapter 4's attention model: an encoder graph over one source of any length
    and a graph of one decoder step (the greedy loop runs in the browser).

    Writes ``encoder.onnx``, ``step.onnx``, ``meta.json`` (vocabularies, limits) and
    ``reference.json`` (:func:`~attnbook.decoding.translate` of each of ``examples``:
    tokens, output, attention) to ``model_dir() / name``; returns that folder.
    """
    _check_name(name)
    _check_model(model, Seq2Seq)
    _check_examples(examples, 1)
    if model.encoder.rnn.mode != "GRU":
        raise ValueError("only a GRU encoder-decoder can be exported")
    folder = model_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    model = _cpu_copy(model)
    src, src_len = task.encode_sources([examples[0]])
    with torch.no_grad():
        outputs, state = _Encoder(model)(src, src_len)
    _export(_Encoder(model), (src, src_len), folder / "encoder.onnx",
            ["src", "src_len"], ["outputs", "state"],
            {"src": {1: "S"}, "outputs": {1: "S"}})  # fmt: skip
    _export(_Step(model), (torch.tensor([BOS]), state, outputs, src_len),
            folder / "step.onnx", ["y", "state", "outputs", "src_len"],
            ["logits", "next_state", "weights"],
            {"outputs": {1: "S"}, "weights": {1: "S"}})  # fmt: skip
    meta = {"kind": "translator", **_vocab_meta(task)}
    reference = []
    for text in examples:
        result = translate(model, task, text)
        reference.append({
            "text": text,
            "source_tokens": result.source_tokens,
            "src_ids": task.src_vocab.encode(text),
            "output": result.output,
            "output_tokens": result.output_tokens,
            "unknown": result.unknown,
            "attention": result.attention.tolist(),
        })  # fmt: skip
    _write_json(folder, meta, reference)
    return folder


def translation_note(output: str, unknown: list[str]) -> str:
    """The status line under the input box (``js/input.js`` writes the same words)."""
    note = f"Output: {output}"
    if not unknown:
        return note
    return f"{note}. Not in the training data, read as <unk>: " + ", ".join(
        f"“{t}”" for t in unknown
    )


def _translation_frames(model: Seq2Seq, task: Any, text: str) -> dict[str, Any]:
    result = translate(model, task, text)
    return {
        "frames": result.attention.numpy(),
        "row_labels": result.output_tokens,
        "col_labels": [
            "<unk>" if t in result.unknown else t for t in result.source_tokens
        ],
        "note": translation_note(result.output, result.unknown),
    }


def _recompute_in_kernel(
    explorer: HeatmapExplorer,
    frames_of: Callable[[str], dict[str, Any]],
    axes: dict[str, Any],
) -> None:
    """In a live kernel, redraw ``explorer`` with ``frames_of(text)`` whenever the
    reader's text changes; a text the model cannot read shows its error as the note."""

    def recompute(change: dict[str, Any]) -> None:
        try:
            new = frames_of(change["new"])
        except ValueError as error:
            explorer.input_note = str(error)
            return
        extra = {"mask": new["mask"]} if "mask" in new else {}
        explorer.set_frames(
            new["frames"],
            row_labels=new["row_labels"],
            col_labels=new["col_labels"],
            axes=axes,
            **extra,
        )
        explorer.input_note = new["note"]

    explorer.observe(recompute, names="input_value")


def translator_explorer(
    model: Seq2Seq, task: Any, name: str, text: str, examples: list[str] = ()
) -> HeatmapExplorer:
    """An explorer with a text box: the attention of ``model`` translating what the reader types.

    On the book's build (``$ATTNBOOK_STATIC_PAGE``) the model is exported first
    (:func:`export_translator`, with ``text`` and ``examples`` as the reference inputs)
    and the page's front-end runs it in the browser; elsewhere each input is
    translated in this kernel.
    """
    _check_model(model, Seq2Seq)
    examples = _check_examples(examples, 0)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty str, got {text!r}")
    static = bool(os.environ.get(STATIC_PAGE_ENV))
    if static:
        export_translator(model, task, name, [text, *examples])
    first = _translation_frames(model, task, text)
    explorer = HeatmapExplorer(
        first["frames"], axes={}, row_labels=first["row_labels"],
        col_labels=first["col_labels"], row_slider="output",
        row_title="output character", col_title="input character",
        vmin=0.0, vmax=1.0, title="Attention of the trained model on your input",
    )  # fmt: skip
    explorer.input_note = first["note"]
    explorer.input = {
        "kind": "translator", "model": _check_name(name),
        "runtime": "browser" if static else "kernel",
        "label": "Type a date in any format you like: ", "value": text,
        "prompt": "Type a date.",
        "max_length": task.max_source_len,
    }  # fmt: skip

    if not static:
        _recompute_in_kernel(
            explorer, lambda text: _translation_frames(model, task, text), axes={}
        )
    return explorer


# ------------------------------------------------------------------ chapter 9: the ViT
class _ViTFrames(nn.Module):
    """One image -> the class probabilities and the explorer's frames: per layer, for each head,
    the mean of the heads and the rollout up to that layer, the class token's attention over the
    patches (relative to its largest weight, drawn over the patch's pixels) to the right of the
    image itself, one grey column between: ``(L, h + 2, H, 2 W + 1)``."""

    def __init__(self, vit: VisionTransformer) -> None:
        super().__init__()
        self.vit = vit

    def forward(self, image: torch.Tensor):
        probs = self.vit(image).softmax(-1)[0]  # (classes,)
        weights = self.vit.attention_weights  # per layer (1, h, T, T)
        p = self.vit.patch_embedding.patch_size
        rows = []
        for layer in range(len(weights)):
            cls = weights[layer][0, :, 0, 1:]  # (h, N): class token -> patches
            roll = attention_rollout(weights[: layer + 1])[0, 0, 1:]  # (N,)
            rows.append(torch.cat([cls, cls.mean(0, keepdim=True), roll[None]]))
        maps = torch.stack(rows)  # (L, h + 2, N)
        maps = maps / maps.amax(-1, keepdim=True)
        g = image.shape[-1] // p
        pixels = maps.reshape(*maps.shape[:2], g, g)
        pixels = pixels.repeat_interleave(p, -2).repeat_interleave(p, -1)
        drawing = torch.zeros_like(pixels) + image[0, 0]  # broadcast: one per frame
        gap = torch.zeros_like(pixels[..., :1])
        return probs, torch.cat([drawing, gap, pixels], dim=-1)


def vit_frames(vit: VisionTransformer, image: torch.Tensor) -> tuple[Any, Any]:
    """(class probabilities, frames) of one ``(1, 1, H, W)`` image, as the browser computes them."""
    _check_model(vit, VisionTransformer)
    with torch.inference_mode():
        probs, frames = _ViTFrames(vit)(image)
    return probs.numpy(), frames.numpy()


def export_vit(
    vit: VisionTransformer, name: str, images: torch.Tensor
) -> pathlib.Path:
    """Export chapter 9's ViT as one graph: image -> class probabilities and the explorer's
    frames (:class:`_ViTFrames`). Writes ``vit.onnx``, ``meta.json`` and ``reference.json``
    (the PyTorch outputs for each of ``images``, ``(n, 1, H, W)``) to ``model_dir() / name``."""
    _check_name(name)
    _check_model(vit, VisionTransformer)
    check_tensor("images", images, "(n, 1, H, W)", dim=4)
    if images.shape[0] == 0 or images.shape[1] != 1:
        raise ValueError(
            f"images must be (n >= 1, 1, H, W), got {tuple(images.shape)}"
        )
    folder = model_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    vit = _cpu_copy(vit)
    images = images.detach().cpu().float()
    _export(_ViTFrames(vit), (images[:1],), folder / "vit.onnx", ["image"],
            ["probs", "frames"], {})  # fmt: skip
    meta = {"kind": "vit", "image_shape": list(images.shape[1:])}
    reference = []
    for image in images:
        probs, frames = vit_frames(vit, image[None])
        reference.append({"image": image[0].tolist(), "probs": probs.tolist(),
                          "frames": frames.tolist()})  # fmt: skip
    _write_json(folder, meta, reference)
    return folder


def vit_explorer(
    vit: VisionTransformer, name: str, image: torch.Tensor, examples: Any = None
) -> HeatmapExplorer:
    """An explorer with an 8 x 8 drawing pad: the class token's attention of ``vit`` on what the
    reader draws, per layer and head, with the mean of the heads and the rollout.

    ``image`` ``(1, 1, H, W)`` starts the pad; on the book's build the model is exported
    (:func:`export_vit`; reference inputs: ``image``, the cleared pad and ``examples``
    ``(n, 1, H, W)`` in black and white, as the pad draws) and runs in the browser;
    elsewhere each drawing is classified in this kernel.
    """
    _check_model(vit, VisionTransformer)
    check_tensor("image", image, "(1, 1, H, W)", dim=4)
    image = image.detach().cpu().float()
    if image.shape[:2] != (1, 1):
        raise ValueError(f"image must be (1, 1, H, W), got {tuple(image.shape)}")
    static = bool(os.environ.get(STATIC_PAGE_ENV))
    if static:  # references: this image, the cleared pad, the examples as the pad draws them
        drawn = (
            [] if examples is None else [(examples.detach().cpu() >= 0.5).float()]
        )
        export_vit(vit, name, torch.cat([image, torch.zeros_like(image), *drawn]))
    model = _cpu_copy(vit)
    probs, frames = vit_frames(model, image)
    L, heads, size = frames.shape[0], frames.shape[1] - 2, image.shape[-1]
    mask = np.zeros(frames.shape[-2:], dtype=bool)
    mask[:, size] = True
    columns = [str(c) for c in range(size)]
    explorer = HeatmapExplorer(
        frames,
        axes={"layer": [str(i + 1) for i in range(L)],
              "head": [f"head {i + 1}" for i in range(heads)]
              + ["mean of heads", "rollout to this layer"]},
        row_labels=[str(r) for r in range(size)], col_labels=[*columns, "", *columns],
        row_title="row", col_title="column — left: your drawing, right: class-token attention",
        mask=mask, title="What the class token attends to in your drawing",
        vmin=0.0, vmax=1.0, cmap="magma", position=[L - 1, heads + 1],
    )  # fmt: skip
    explorer.input_note = json.dumps(probs.round(6).tolist())
    explorer.input = {
        "kind": "pad", "model": _check_name(name), "runtime": "browser" if static else "kernel",
        "label": "Draw a digit (click or drag over the cells; Enter or Space toggles one)",
        "value": image[0, 0].tolist(),
    }  # fmt: skip

    def recompute(change: dict[str, Any]) -> None:
        pixels = torch.tensor(json.loads(change["new"]), dtype=torch.float32)
        p, f = vit_frames(model, pixels.reshape(image.shape))
        explorer.set_frames(f, mask=mask)
        explorer.input_note = json.dumps(p.round(6).tolist())

    if not static:
        explorer.observe(recompute, names="input_value")
    return explorer


# ------------------------------------------------------------------ chapter 7: the Transformer
class _TEncoder(nn.Module):
    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor, src_len: torch.Tensor) -> torch.Tensor:
        return self.model.encoder(src, src_len)  # (1, S, d)


class _TDecoder(nn.Module):
    """The decoder over a whole prefix: logits and every layer's self- and cross-attention."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, y_in, memory, src_len):
        logits = self.model.decoder(y_in, memory, src_len)  # (1, T, V)
        blocks = self.model.decoder.blocks
        self_w = torch.stack(
            [b.self_attention.attention_weights[0] for b in blocks]
        )
        cross = torch.stack(
            [b.cross_attention.attention_weights[0] for b in blocks]
        )
        return logits, self_w, cross  # (1, T, V), (L, h, T, T), (L, h, T, S)


def _transformer_views(model: Transformer, task: Any, text: str) -> dict[str, Any]:
    """Greedy translation of ``text`` and the attention of the pass over the model's own
    outputs (as the chapter's explorers and the browser compute it)."""
    result = translate(model, task, text)
    ids = [task.tgt_vocab.tokens.index(t) for t in result.output_tokens]
    src, src_len = task.encode_sources([text])
    y_in = torch.tensor([[BOS, *ids[:-1]]])
    with torch.no_grad():
        _, self_w, cross = _TDecoder(model)(
            y_in, model.encoder(src, src_len), src_len
        )
    return {"result": result, "self": self_w.numpy(), "cross": cross.numpy()}


def export_transformer(
    model: Transformer, task: Any, name: str, examples: list[str]
) -> pathlib.Path:
    """Export chapter 7's Transformer: an encoder graph and a decoder graph over the whole
    prefix that returns the logits and every layer's self- and cross-attention (the greedy
    loop runs in the browser). Files as :func:`export_translator`'s, plus the attention."""
    _check_name(name)
    _check_model(model, Transformer)
    _check_examples(examples, 1)
    folder = model_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    model = _cpu_copy(model)
    reference = []  # before tracing: a trace may leave traced state in the modules it ran
    for text in examples:
        views = _transformer_views(copy.deepcopy(model), task, text)
        result = views["result"]
        reference.append({
            "text": text, "source_tokens": result.source_tokens,
            "src_ids": task.src_vocab.encode(" ".join(result.source_tokens)),
            "output": result.output, "output_tokens": result.output_tokens,
            "unknown": result.unknown, "self_attention": views["self"].tolist(),
            "cross_attention": views["cross"].tolist(),
        })  # fmt: skip
    src, src_len = task.encode_sources([examples[0]])
    y_in = torch.tensor([[BOS, 4, 5]])
    with torch.no_grad():
        memory = model.encoder(src, src_len)
    _export(_TEncoder(model), (src, src_len), folder / "encoder.onnx",
            ["src", "src_len"], ["memory"], {"src": {1: "S"}, "memory": {1: "S"}})  # fmt: skip
    _export(_TDecoder(model), (y_in, memory, src_len), folder / "decoder.onnx",
            ["y_in", "memory", "src_len"], ["logits", "self_attention", "cross_attention"],
            {"y_in": {1: "T"}, "memory": {1: "S"}, "logits": {1: "T"},
             "self_attention": {2: "T", 3: "T"}, "cross_attention": {2: "T", 3: "S"}})  # fmt: skip
    meta = {"kind": "transformer", "tokenizer": "english", **_vocab_meta(task)}
    _write_json(folder, meta, reference)
    return folder


def _transformer_frames(model: Transformer, task: Any, text: str) -> dict[str, Any]:
    views = _transformer_views(model, task, text)
    result = views["result"]
    T = len(result.output_tokens)
    source = ["<unk>" if t in result.unknown else t for t in result.source_tokens]
    return {
        "frames": [views["cross"], views["self"]],
        "row_labels": [result.output_tokens, result.output_tokens],
        "col_labels": [source, ["<bos>", *result.output_tokens[:-1]]],
        "mask": [
            np.zeros((T, len(source)), bool),
            np.triu(np.ones((T, T), bool), 1),
        ],
        "note": translation_note(result.output, result.unknown),
    }


def transformer_explorer(
    model: Transformer, task: Any, name: str, text: str, examples: list[str] = ()
) -> HeatmapExplorer:
    """An explorer with a text box: the cross-attention (per layer and head) and the decoder's
    self-attention of ``model`` translating what the reader types; exported and run in the
    browser on the book's build, recomputed in this kernel elsewhere."""
    _check_model(model, Transformer)
    examples = _check_examples(examples, 0)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty str, got {text!r}")
    static = bool(os.environ.get(STATIC_PAGE_ENV))
    if static:
        export_transformer(model, task, name, [text, *examples])
    cpu = _cpu_copy(model)
    first = _transformer_frames(cpu, task, text)
    L, h = first["frames"][0].shape[:2]
    kinds = ["cross-attention", "decoder self-attention"]
    axes = {"attention": kinds, "layer": [str(i + 1) for i in range(L)],
            "head": [str(i + 1) for i in range(h)]}  # fmt: skip
    explorer = HeatmapExplorer(
        first["frames"], axes=axes, row_labels=first["row_labels"],
        col_labels=first["col_labels"], mask=first["mask"], row_slider="output word",
        row_title="French position (predicts)", col_title="English word / French word read",
        vmin=0.0, vmax=1.0, title="Attention of the trained Transformer on your sentence",
        position=[0, L - 1, 0],
    )  # fmt: skip
    explorer.input_note = first["note"]
    explorer.input = {
        "kind": "transformer", "model": _check_name(name),
        "runtime": "browser" if static else "kernel",
        "label": "Type an English sentence: ", "value": text,
        "prompt": "Type an English sentence.",
        "max_length": 400, "kinds": kinds,
    }  # fmt: skip

    if not static:
        _recompute_in_kernel(
            explorer, lambda text: _transformer_frames(cpu, task, text), axes=axes
        )
    return explorer
