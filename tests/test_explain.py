"""rheumabook.explain: attention capture, rollout (plain and windowed), gradient saliency, region masses.

Every model here is small and random (``pretrained=False``); attention is sharpened and the
relative-position biases are set to random values, so that a missing bias, a wrong window
placement or a stale bias cache changes the numbers well beyond the tolerances.
"""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models.swin_transformer import SwinTransformer, window_partition
from timm.models.tiny_vit import TinyVit

from rheumabook.explain import (attention_rollout, capture_attention, gradient_saliency, joint_region_masks,
                                layer_attention, mass_in_region, region_mass_ratio, stencil_matrix)
from rheumabook.profiles import QUICK
from rheumabook.scoring import ScoringModel, build_scorer


def _randomise(model: torch.nn.Module, seed: int, qkv_gain: float = 4.0) -> torch.nn.Module:
    """Random relative-position biases and sharper attention (scaled qkv weights), in place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "attention_biases" in name or "relative_position_bias_table" in name:
                parameter.copy_(2.0 * torch.randn(parameter.shape, generator=generator))
            elif name.endswith("qkv.weight"):
                parameter.mul_(qkv_gain)
    return model


def _tiny_vit(seed: int = 0, window: int = 3, in_chans: int = 1) -> TinyVit:
    """A TinyViT of ~50k parameters; at 64 px its grids 8/4/2 need padding to windows of 3."""
    torch.manual_seed(seed)
    model = TinyVit(in_chans=in_chans, num_classes=3, embed_dims=(8, 16, 24, 32), depths=(1, 2, 1, 1),
                    num_heads=(1, 2, 2, 2), window_sizes=(window,) * 4, drop_path_rate=0.0)
    return _randomise(model, seed).eval()


def _swin(seed: int = 0) -> SwinTransformer:
    """A two-stage Swin at 48 px: a 12 x 12 grid in windows of 5 (padded), shifted blocks."""
    torch.manual_seed(seed)
    model = SwinTransformer(img_size=48, in_chans=1, embed_dim=8, depths=(2, 2), num_heads=(1, 2), window_size=5,
                            num_classes=0, drop_path_rate=0.0)
    return _randomise(model, seed).eval()


def _vit(seed: int = 0, reg_tokens: int = 0):
    torch.manual_seed(seed)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, depth=4, reg_tokens=reg_tokens,
                              num_classes=0)
    return _randomise(model, seed).eval()


def _images(n: int, size: int, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


# 1. plain ViT: the standard rollout, written out independently -------------------------------------------------


def _reference_vit_rollout(model, images: torch.Tensor) -> torch.Tensor:
    """jacobgil/vit-explain's recipe: unfused path, hooks on the post-softmax dropout, mean heads, (A+I) norm, product."""
    probabilities = []
    hooks = []
    for block in model.blocks:
        block.attn.fused_attn = False
        hooks.append(block.attn.attn_drop.register_forward_hook(lambda m, i, o: probabilities.append(o.detach())))
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    tokens = probabilities[0].shape[-1]
    result = torch.eye(tokens).expand(len(images), -1, -1)
    for attn in probabilities:
        flow = attn.mean(dim=1) + torch.eye(tokens)
        result = (flow / flow.sum(dim=-1, keepdim=True)) @ result
    return result[:, 0, model.num_prefix_tokens:]


@pytest.mark.parametrize("reg_tokens", [0, 2])
def test_vit_rollout_equals_the_standard_cls_rollout(reg_tokens):
    model = _vit(reg_tokens=reg_tokens)
    images = _images(3, 64, channels=3)
    rollout = attention_rollout(model, images)  # on timm's default fused (SDPA) path
    reference = _reference_vit_rollout(model, images)
    assert rollout.token == "cls" and rollout.grid.shape == (3, 4, 4)
    torch.testing.assert_close(rollout.grid.reshape(3, -1), reference, atol=1e-5, rtol=0)
    assert (reference - reference.mean(dim=1, keepdim=True)).abs().max() > 1e-3  # maps are not flat: test has teeth


# 2. capture reproduces the attention module's own output, fused and unfused alike ----------------------------------


def _captured(model, images, fused: bool):
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = fused
    with torch.no_grad(), capture_attention(model, keep_values=True) as capture:
        out = model(images)
    return out, capture.attention


def test_captured_tiny_vit_attention_reproduces_the_module_output():
    model, images = _tiny_vit(), _images(2, 64)
    with torch.no_grad():
        plain = model(images)
    results = {}
    for fused in (True, False):
        out, records = _captured(model, images, fused)
        torch.testing.assert_close(out, plain, atol=1e-5, rtol=0)  # the capture leaves the model's output alone
        modules = dict(model.named_modules())
        for record in records:
            module = modules[record.name]
            mixed = (record.attn @ record.values).transpose(1, 2).reshape(len(record.attn), -1, module.out_dim)
            torch.testing.assert_close(module.proj(mixed), record.output, atol=1e-5, rtol=0)
        results[fused] = records
    assert len(results[True]) == 4  # depths (1, 2, 1, 1): stage 0 is MBConv, then four attention blocks
    for a, b in zip(results[True], results[False]):
        torch.testing.assert_close(a.attn, b.attn, atol=1e-5, rtol=0)


def test_capture_restores_the_model():
    model = _tiny_vit().train()
    with torch.no_grad(), capture_attention(model):
        model(_images(1, 64))
    attn = model.stages[1].blocks[0].attn
    assert "forward" not in attn.__dict__ and not attn._forward_hooks and model.training
    assert not model.stages[1].blocks[0]._forward_pre_hooks


# 3. every rolled-out matrix is row-stochastic ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tiny_vit", "swin", "vit", "quick_scorer"])
@pytest.mark.parametrize("head_fusion,discard_ratio", [("mean", 0.0), ("max", 0.5), ("min", 0.2)])
def test_rolled_out_rows_sum_to_one(kind, head_fusion, discard_ratio):
    if kind == "quick_scorer":
        torch.manual_seed(0)
        model, images = build_scorer(QUICK.scoring), _images(2, QUICK.scoring.crop_size)
    else:
        model = {"tiny_vit": _tiny_vit, "swin": _swin, "vit": _vit}[kind]()
        images = _images(2, 48 if kind == "swin" else 64, channels=3 if kind == "vit" else 1)
    rollout = attention_rollout(model, images, head_fusion, discard_ratio, return_matrices=True)
    assert rollout.matrices
    for matrix in rollout.matrices:
        torch.testing.assert_close(matrix.sum(dim=-1), torch.ones(matrix.shape[:2]), atol=1e-5, rtol=0)
        assert (matrix >= 0).all()
    torch.testing.assert_close(rollout.heat.sum(dim=(1, 2)), torch.ones(2), atol=1e-5, rtol=0)
    assert rollout.heat.shape == (2, *images.shape[-2:])
    torch.testing.assert_close(attention_rollout(model, images, head_fusion, discard_ratio).grid, rollout.grid,
                               atol=1e-6, rtol=0)  # row pulled back == row of the full product


def test_quick_scorer_reads_the_idx_pooled_token():
    torch.manual_seed(0)
    model = build_scorer(QUICK.scoring).train()
    images = _images(3, QUICK.scoring.crop_size)
    rollout = attention_rollout(model, images, return_matrices=True)
    assert model.training and model.backbone.training  # modes restored
    size = QUICK.scoring.crop_size // 4
    assert rollout.token == "top-left" and rollout.tokens.shape == (3, size, size)
    torch.testing.assert_close(rollout.tokens.reshape(3, -1), rollout.matrices[-1][:, 0], atol=1e-6, rtol=0)
    # .grid: the same flow at the final token resolution (stride 32), each final token's 8 x 8 cell summed
    final = QUICK.scoring.crop_size // 32
    cells = rollout.tokens.reshape(3, final, size // final, final, size // final).sum(dim=(2, 4))
    assert rollout.grid.shape == (3, final, final)
    torch.testing.assert_close(rollout.grid, cells, atol=1e-6, rtol=0)
    mean = attention_rollout(model, images, token="mean").tokens.reshape(3, -1)
    torch.testing.assert_close(mean, rollout.matrices[-1].mean(dim=1), atol=1e-6, rtol=0)


def test_tiny_vit_5m_at_224_smoke():
    torch.manual_seed(0)
    model = ScoringModel("tiny_vit_5m_224", kinds=("erosion",), img_size=224)
    rollout = attention_rollout(model, _images(1, 224))
    assert rollout.tokens.shape == (1, 56, 56) and rollout.grid.shape == (1, 7, 7)  # 7 x 7 final tokens at 224
    assert torch.isfinite(rollout.heat).all()


# 4. TinyViT's eval-mode bias cache -------------------------------------------------------------------------------


def test_maps_after_load_state_dict_in_eval_mode_equal_a_fresh_model():
    images = _images(2, 64)
    stale = _tiny_vit(seed=0)  # eval mode
    with torch.no_grad():
        stale(images)  # fills timm's attention_bias_cache with seed 0's biases
    fresh = _tiny_vit(seed=1)
    stale.load_state_dict(fresh.state_dict())
    attn = stale.stages[1].blocks[0].attn
    cached = attn.get_attention_biases(images.device)
    assert not torch.allclose(cached, attn.attention_biases[:, attn.attention_bias_idxs])  # the cache is stale
    # the capture alone (no train()/eval() call, which would clear the cache) sees the loaded biases
    with torch.no_grad(), capture_attention(stale) as got, capture_attention(fresh) as expected:
        stale(images)
        fresh(images)
    for a, b in zip(got.attention, expected.attention, strict=True):
        torch.testing.assert_close(a.attn, b.attn, atol=1e-6, rtol=0)
    stale.load_state_dict(_tiny_vit(seed=0).state_dict())  # and again: stale cache after a forward in eval mode
    with torch.no_grad():
        stale(images)
    stale.load_state_dict(fresh.state_dict())
    expected = attention_rollout(fresh, images)
    got = attention_rollout(stale, images)
    torch.testing.assert_close(got.grid, expected.grid, atol=1e-6, rtol=0)
    torch.testing.assert_close(got.heat, expected.heat, atol=1e-6, rtol=0)
    with torch.no_grad():  # and the capture left the model computing with the loaded biases
        torch.testing.assert_close(stale(images), fresh(images), atol=1e-6, rtol=0)


# 5. windows placed into the full grid: brute force ---------------------------------------------------------------


def _window_token_ids(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """(n_windows, window^2) grid token of each window slot (-1 padding), by running the blocks' own partition."""
    ids = torch.arange(height * width, dtype=torch.float32).view(1, height, width, 1)
    ids = torch.roll(ids, shifts=(-shift, -shift), dims=(1, 2))
    pad = (window - height % window) % window, (window - width % window) % window
    ids = F.pad(ids, (0, 0, 0, pad[1], 0, pad[0]), value=-1.0)
    return window_partition(ids, (window, window)).reshape(-1, window * window).long()


@pytest.mark.parametrize("kind", ["tiny_vit", "swin"])
def test_window_placement_matches_a_manual_placement(kind):
    model = _tiny_vit() if kind == "tiny_vit" else _swin()
    images = _images(2, 64 if kind == "tiny_vit" else 48)
    with torch.no_grad(), capture_attention(model) as capture:
        model(images)
    checked = 0
    for record in capture.attention:
        layout = record.layout
        shift = layout.shift[0]
        if kind == "swin" and layout.height == 12:
            assert shift == (2 if checked % 2 else 0)  # block 1 of stage 0 is the shifted one
        ids = _window_token_ids(layout.height, layout.width, layout.window[0], shift)
        n_tokens, n_windows = layout.height * layout.width, len(ids)
        expected = torch.zeros(2, n_tokens, n_tokens)
        for b in range(2):
            for w in range(n_windows):
                probs = record.attn[b * n_windows + w]  # (heads, N, N)
                valid = ids[w] >= 0
                kept = probs[:, valid][:, :, valid]
                kept = (kept / kept.sum(dim=-1, keepdim=True)).mean(dim=0)
                rows = ids[w][valid]
                for i, row in enumerate(rows):
                    for j, col in enumerate(rows):
                        expected[b, row, col] = kept[i, j]
        torch.testing.assert_close(layer_attention(record), expected, atol=1e-6, rtol=0)
        checked += 1
    assert checked == 4


# 6. the flow through patch merging ------------------------------------------------------------------------------


def test_merge_matrices_by_hand():
    tiny = stencil_matrix((4, 4), (2, 2), kernel=(3, 3), stride=(2, 2), padding=(1, 1))
    # tent shares per axis: taps (1/2, 1, 1/2); at the border tap -1 falls outside -> (2/3, 1/3)
    edge, inner = {0: 2 / 3, 1: 1 / 3}, {1: 1 / 4, 2: 1 / 2, 3: 1 / 4}
    expected = torch.zeros(4, 16)
    for row, (ys, xs) in enumerate([(edge, edge), (edge, inner), (inner, edge), (inner, inner)]):
        for y, wy in ys.items():
            for x, wx in xs.items():
                expected[row, y * 4 + x] = wy * wx
    assert expected[0, 0] == 4 / 9 and abs(float(expected[1, 2]) - 1 / 3) < 1e-7  # two entries written out
    torch.testing.assert_close(tiny, expected)
    # no lattice: away from the border every old token is read with the same total weight
    big = stencil_matrix((16, 16), (8, 8), kernel=(3, 3), stride=(2, 2), padding=(1, 1)).sum(dim=0).reshape(16, 16)
    torch.testing.assert_close(big[2:-2, 2:-2], torch.full((12, 12), 0.25))
    swin = stencil_matrix((3, 3), (2, 2), kernel=(2, 2), stride=(2, 2), padding=(0, 0))  # odd grid: padded parents
    expected = torch.zeros(4, 9)
    expected[0, [0, 1, 3, 4]] = 1 / 4
    expected[1, [2, 5]] = 1 / 2
    expected[2, [6, 7]] = 1 / 2
    expected[3, 8] = 1.0
    torch.testing.assert_close(swin, expected)


def test_rollout_carries_the_flow_through_the_first_merge():
    model, images = _tiny_vit(), _images(1, 64)
    with torch.no_grad(), capture_attention(model) as capture:
        model(images)
    first_merge, first_attention = capture.events[0], capture.events[1]
    assert first_merge.kind == "merge" and first_merge.in_size == (16, 16) and first_merge.out_size == (8, 8)
    flow = layer_attention(first_attention)[0] + torch.eye(64)
    flow = flow / flow.sum(dim=-1, keepdim=True)
    merge = stencil_matrix((16, 16), (8, 8))
    rollout = attention_rollout(model, images, return_matrices=True)
    torch.testing.assert_close(rollout.matrices[0][0], flow @ merge, atol=1e-6, rtol=0)
    # the next layer composes on the left, through the block's local_conv (3 x 3 average) in between
    conv = stencil_matrix((8, 8), (8, 8), stride=(1, 1))
    second = layer_attention(capture.events[3])[0] + torch.eye(64)
    second = second / second.sum(dim=-1, keepdim=True)
    torch.testing.assert_close(rollout.matrices[1][0], second @ conv @ flow @ merge, atol=1e-6, rtol=0)


# 7. region masses ------------------------------------------------------------------------------------------------


def test_mass_and_ratio_by_hand():
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True  # area fraction 1/4
    uniform = np.ones((2, 4, 4))
    np.testing.assert_allclose(mass_in_region(uniform, mask), [0.25, 0.25])
    np.testing.assert_allclose(region_mass_ratio(uniform, mask), [1.0, 1.0])
    inside = np.zeros((4, 4))
    inside[1, 2] = 3.0
    np.testing.assert_allclose(region_mass_ratio(torch.tensor(inside), mask), [4.0])  # all mass inside: 1 / area
    half = np.zeros((4, 4))
    half[1, 1], half[0, 0] = 1.0, 3.0
    np.testing.assert_allclose(mass_in_region(half, mask), [0.25])
    with pytest.raises(ValueError, match="boolean"):
        mass_in_region(uniform, mask.astype(float))


def test_joint_region_masks_follow_the_crop_windows():
    square = joint_region_masks(40, factor=4.0)  # side 40 / sqrt(4) = 20, centred: pixels 10..29
    expected = np.zeros((40, 40), dtype=bool)
    expected[10:30, 10:30] = True
    np.testing.assert_array_equal(square, expected)
    # a 10 x 6 box: squared to 10, window side 20 px cut to 40 px (scale 2), box rows 102..108 -> 14..26
    boxes = np.array([[100.0, 100.0, 110.0, 110.0], [100.0, 102.0, 110.0, 108.0]])
    masks = joint_region_masks(40, factor=4.0, boxes=boxes, hands=["left", "right"])
    np.testing.assert_array_equal(masks[0], expected)
    expected_rect = np.zeros((40, 40), dtype=bool)
    expected_rect[14:26, 10:30] = True
    np.testing.assert_array_equal(masks[1], expected_rect)
    assert abs(joint_region_masks(64).mean() - 1 / 2.5) < 0.03  # the eval factor: box is 1/2.5 of the crop area


# 8. gradient saliency -------------------------------------------------------------------------------------------


def _tiny_scorer(kinds) -> ScoringModel:
    torch.manual_seed(0)
    model = ScoringModel("tiny_vit_5m_224", kinds=kinds, img_size=32, hidden=16,
                         backbone_kwargs=dict(embed_dims=(8, 16, 16, 16), depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1),
                                              window_sizes=(4, 2, 1, 1)))
    return _randomise(model, 0).double().eval()


def test_gradient_saliency_matches_finite_differences():
    model = _tiny_scorer(("erosion", "jsn"))
    images = _images(2, 32).double()
    saliency = gradient_saliency(model, images, target="jsn")
    with torch.no_grad():
        logits = model(images)
    column = 6 + model.split_logits(logits)["jsn"].argmax(dim=1)  # JSN logits follow the 6 erosion logits
    inputs = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(inputs).gather(1, column[:, None]).sum(), inputs)
    total = grad.abs().sum(dim=(1, 2, 3))
    torch.testing.assert_close(saliency, grad[:, 0].abs() / total[:, None, None], atol=1e-10, rtol=0)
    step = 1e-5
    for b, y, x in [(0, 5, 7), (0, 16, 16), (1, 30, 2)]:
        plus, minus = images.clone(), images.clone()
        plus[b, 0, y, x] += step
        minus[b, 0, y, x] -= step
        with torch.no_grad():
            slope = (model(plus)[b, column[b]] - model(minus)[b, column[b]]) / (2 * step)
        assert abs(abs(float(slope)) / float(total[b]) - float(saliency[b, y, x])) < 1e-6 * float(saliency[b].max())


def test_gradient_saliency_needs_a_kind_for_the_shared_model():
    model = _tiny_scorer(("erosion", "jsn"))
    with pytest.raises(ValueError, match="target"):
        gradient_saliency(model, _images(1, 32).double())


def test_unsupported_backbones_say_so():
    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    with pytest.raises(NotImplementedError, match="TinyViT, Swin and VisionTransformer"):
        attention_rollout(model, _images(1, 32, channels=3))
