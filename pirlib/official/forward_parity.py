"""Forward parity with the official PIR code: the outputs of the reference fixture `official_pir_tiny.pt` (official
weights of a reduced architecture, four images, six token sequences and the official outputs, computed on CPU in
float32) reproduced by `load_official_checkpoint`.

One bound for every compared value: |pirlib − official| ≤ TOLERANCE × the scale that float32 rounding of that value
is proportional to.

- An image or text embedding is a row of a vector; its scale is the row's norm (1: the embeddings are unit vectors),
  so 1e-5 absolute.
- A belief logit ⟨X_n, P⟩ is a dot product of the projected Swin token X_n and the projected scene prior P. Its
  float32 rounding, and what a relative error δ of X_n or of P does to it, are bounded by multiples of ‖X_n‖·‖P‖, not
  of |⟨X_n, P⟩| (the dot product cancels, its rounding does not), so its scale is ‖X_n‖·‖P‖ of the official X_n and
  P. This matters because P comes out of a float32 ResNet-50: the official P differs from the exact one by about
  1.6e-5 of its norm (a vector of errors spread over its dimensions), and a logit inherits ⟨X_n, ΔP⟩, at most
  ‖X_n‖·‖ΔP‖ and in practice a fraction of it; an absolute bound of 1e-5 on logits of magnitude up to 37 fails.

`forward_parity` also runs pirlib in float64 on the same weights (stored as float16 in the fixture: exact in either
precision). As far as pirlib computes what the official code computes, that is the computation without rounding, and
its distance to the official output is the official float32 run's own rounding, which the bound must leave room for:
it is checked against the same bound (the largest, on the logits, is 2.2e-6 of the scale). (VIR computes its belief
logits in float32 whatever the model's precision; the float64 logits are taken from the float64 X and P.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

FORWARD_FIXTURE = "official_pir_tiny.pt"
TOLERANCE = 1e-5  # the largest |pirlib − official| / scale allowed for any compared value
# compared outputs: row label → fixture key
OUTPUTS = {
    "img_emb (VIR)": "img_emb",
    "txt_emb (LCA)": "txt_emb",
    "baseline img_emb": "baseline_img_emb",
    "baseline txt_emb": "baseline_txt_emb",
    "belief logits": "belief_logits",
}


@dataclass
class ForwardParity:
    """The per-output errors, and whether rank & filter orders the tokens as the official code does."""

    errors: pd.DataFrame  # one row per output of OUTPUTS: shape, scale, max abs error, max error / scale (float32,
    # float64), passed
    same_order: bool  # pirlib's rank & filter order equals the official `sorted_ind` on every image
    images: int  # the fixture's images

    @property
    def passed(self) -> bool:
        return self.same_order and bool(self.errors["passed"].all())


def value_scales(fixture: dict) -> dict[str, torch.Tensor]:
    """The scale of every compared value (fixture key → tensor broadcastable to the output): the norm of its row for
    the embeddings, ‖X_n‖·‖P‖ of the official projected Swin tokens and prior for the belief logits."""
    scales = {key: fixture[key].norm(dim=-1, keepdim=True) for key in OUTPUTS.values() if key != "belief_logits"}
    prior_norm = fixture["conv_feat"].norm(dim=-1, keepdim=True)  # [B, 1]
    scales["belief_logits"] = fixture["swin_tokens"].norm(dim=-1) * prior_norm  # [B, N]
    return scales


def forward_outputs(model: torch.nn.Module, fixture: dict) -> dict[str, torch.Tensor]:
    """pirlib's outputs for the fixture's inputs in the model's precision, keyed as the fixture: the VIR and LCA
    embeddings, the baseline path's embeddings (projected token 0 of the same encoders), the belief logits and the
    rank & filter order (`sorted_ind`)."""
    dtype = next(model.parameters()).dtype
    images, input_ids = fixture["images"].to(dtype), fixture["input_ids"]  # [B, 3, H, W], [T, L]
    with torch.no_grad():
        vir = model.encode_image(images, return_details=True)
        vision_tokens = model.vision_encoder(images)  # [B, N, C_vision]
        text_states = model.text_encoder(input_ids, None)  # [T, L, C_text]: no mask, as the official code
        outputs = {
            "img_emb": vir.embedding,
            "txt_emb": model.encode_text(input_ids),
            "baseline_img_emb": F.normalize(model.vision_projection(vision_tokens[:, 0]), dim=-1),
            "baseline_txt_emb": F.normalize(model.text_projection(text_states[:, 0]), dim=-1),
            "sorted_ind": vir.order,
        }
        if dtype == torch.float32:
            outputs["belief_logits"] = vir.belief_logits  # [B, N]
        else:
            outputs["belief_logits"] = torch.einsum("bnd,bd->bn", vir.tokens, vir.prior)  # [B, N]
    return outputs


def forward_parity(reference_dir: str | Path) -> ForwardParity:
    """Compare pirlib, in float32 and in float64, with the official outputs of the fixture in `reference_dir`."""
    from pirlib.official import load_official_checkpoint

    path = Path(reference_dir) / FORWARD_FIXTURE
    if not path.is_file():
        raise FileNotFoundError(f"reference fixture absent: {path}")
    fixture = torch.load(path, weights_only=True, map_location="cpu")
    model, _ = load_official_checkpoint({"model": fixture["state_dict"], "config": fixture["config"]})
    single = forward_outputs(model, fixture)
    double = forward_outputs(copy.deepcopy(model).double(), fixture)
    scales = value_scales(fixture)
    rows = {}
    for label, key in OUTPUTS.items():
        official, scale = fixture[key].double(), scales[key].double()
        error = (single[key].double() - official).abs()
        rows[label] = {
            "shape": str(tuple(official.shape)),
            "scale": _range(scale),
            "max abs error": error.max().item(),
            "max error / scale": (error / scale).max().item(),
            "float64: max error / scale": ((double[key] - official).abs() / scale).max().item(),
        }
    errors = pd.DataFrame.from_dict(rows, orient="index").rename_axis("official output")
    errors["passed"] = errors[["max error / scale", "float64: max error / scale"]].max(axis=1) <= TOLERANCE
    same_order = bool(torch.equal(single["sorted_ind"], fixture["sorted_ind"]))
    return ForwardParity(errors, same_order, len(fixture["images"]))


def _range(scale: torch.Tensor) -> str:
    low, high = scale.min().item(), scale.max().item()
    return f"{low:.3g}" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g} to {high:.3g}"


def forward_parity_check(shared_dir: str | Path | None) -> ForwardParity | None:
    """`forward_parity(shared_dir / "reference")`, or None when `shared_dir` is None or lacks the fixture (for
    notebooks, which skip the check then)."""
    if shared_dir is None or not (Path(shared_dir) / "reference" / FORWARD_FIXTURE).is_file():
        return None
    return forward_parity(Path(shared_dir) / "reference")
