"""An independent PyTorch implementation of libsimdiff's U-Net and U-ViT,
written from docs/architecture.md, and the fixtures the C tests compare with.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/model_ref.py
Writes tests/fixtures/model/<case>.safetensors (weights + config metadata, as
simdiff_model_load reads them) and <case>.sdfx (inputs, output, the random
cotangent R and d(sum(out*R))/d(param) for every parameter).
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

import sdfx
from ops_dwt import dwt as dwt53, idwt as idwt53

torch.set_default_dtype(torch.float64)

CONFIG_KEYS = [
    "arch", "image_size", "channels", "stem", "stem_param", "num_levels",
    "level_channels", "level_blocks", "norm_groups", "emb_dim",
    "attn_resolution", "attn_heads", "tf_width", "tf_depth", "tf_heads",
    "tf_mlp_ratio", "dropout_res", "dropout_tf", "dropout_max_resolution",
    "num_classes", "cond_dim", "prediction",
]
# Added with sequence conditioning; written only when ctx_dim > 0 (a file
# without them loads as ctx_dim 0, as the older fixtures show).
CTX_KEYS = ["ctx_dim", "ctx_len"]
# Added with the built-in text encoder; written only when text_vocab > 0.
TEXT_KEYS = ["text_vocab", "text_layers", "text_heads"]
# Added with the Wiener skip; written only when set.
SKIP_KEYS = ["wiener_skip"]
UNET, UVIT = 1, 2
NONE, PATCH, DWT = 0, 1, 2


def config_text(cfg):
    parts = []
    for k in (CONFIG_KEYS + (CTX_KEYS if cfg.get("ctx_dim", 0) > 0 else []) +
              (TEXT_KEYS if cfg.get("text_vocab", 0) > 0 else []) +
              (SKIP_KEYS if cfg.get("wiener_skip", 0) else [])):
        v = cfg[k]
        if isinstance(v, (list, tuple)):
            v = ",".join(str(int(x)) for x in v)
        elif isinstance(v, float):
            v = repr(float(np.float32(v)))
        parts.append(f"{k}={v}")
    return ";".join(parts)


class Net:
    """Parameters in a dict (creation order = file order), functional forward."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.p = {}
        self.build()

    # -- parameter declaration (names/shapes from docs/architecture.md) --
    def lin(self, name, i, o):
        self.p[name + ".weight"] = torch.zeros(o, i)
        self.p[name + ".bias"] = torch.zeros(o)

    def conv(self, name, ci, co, k):
        self.p[name + ".weight"] = torch.zeros(co, ci, k, k)
        self.p[name + ".bias"] = torch.zeros(co)

    def norm(self, name, ch):
        self.p[name + ".weight"] = torch.ones(ch)
        self.p[name + ".bias"] = torch.zeros(ch)

    def res_params(self, name, ci, co):
        self.norm(name + ".norm1", ci)
        self.conv(name + ".conv1", ci, co, 3)
        self.lin(name + ".emb", self.cfg["emb_dim"], 2 * co)
        self.conv(name + ".conv2", co, co, 3)
        if ci != co:
            self.conv(name + ".skip", ci, co, 1)

    def attn_params(self, name, ch, gn):
        if gn:
            self.norm(name + ".norm", ch)
        for s in ("q", "k", "v", "out"):
            self.lin(f"{name}.{s}", ch, ch)

    def xattn_params(self, name, ch):
        self.norm(name + ".norm", ch)
        self.lin(name + ".q", ch, ch)
        self.lin(name + ".k", self.ctx_ch, ch)
        self.lin(name + ".v", self.ctx_ch, ch)
        self.lin(name + ".out", ch, ch)

    def attn_stage(self, name, ch):
        self.attn_params(name + ".attn", ch, True)
        self.stages.append(("attn", name + ".attn", ch))
        if self.ctx:
            self.xattn_params(name + ".xattn", ch)
            self.stages.append(("xattn", name + ".xattn", ch))

    def build(self):
        c = self.cfg
        E, L, C = c["emb_dim"], c["num_levels"], c["channels"]
        uvit = c["arch"] == UVIT
        self.lin("emb.fc1", E // 2, E)
        self.lin("emb.fc2", E, E)
        if c["num_classes"] > 0:
            self.p["emb.class"] = torch.zeros(c["num_classes"] + 1, E)
        if c["cond_dim"] > 0:
            self.lin("emb.cond", c["cond_dim"], E)
        self.ctx = c.get("ctx_dim", 0) > 0
        if self.ctx:
            D = c["ctx_dim"]
            self.ctx_ch = c["tf_width"] if uvit else E
            self.p["ctx.null"] = torch.zeros(1, D)
            self.norm("ctx.norm", D)
            self.lin("ctx.proj", D, self.ctx_ch)
            self.lin("emb.ctx", self.ctx_ch, E)
        self.text = c.get("text_vocab", 0) > 0
        if self.text:  # docs/architecture.md, "Text encoder"
            D, T = c["ctx_dim"], c["ctx_len"]
            self.p["text.tok"] = torch.zeros(c["text_vocab"], D)
            self.p["text.pos"] = torch.zeros(T, D)
            for i in range(c["text_layers"]):
                b = f"text.blocks.{i}"
                self.attn_params(b + ".attn", D, True)
                self.norm(b + ".norm2", D)
                self.lin(b + ".fc1", D, 4 * D)
                self.lin(b + ".fc2", 4 * D, D)
            self.norm("text.norm", D)
        ch0 = c["level_channels"][0]
        if c["stem"] == PATCH:
            p = c["stem_param"]
            self.r0, self.cin = c["image_size"] // p, C
            self.conv("stem.conv", C, ch0, p)
        elif c["stem"] == DWT:
            Ld = c["stem_param"]
            self.r0, self.cin = c["image_size"] >> Ld, C * 4 ** Ld
            self.conv("stem.conv", self.cin, ch0, 3)
        else:
            self.r0, self.cin = c["image_size"], C
            self.conv("stem.conv", C, ch0, 3)
        # The block list, in execution order.
        self.stages = []
        ch, r, skip_ch = ch0, self.r0, []
        for l in range(L):
            co = c["level_channels"][l]
            attn = (not uvit) and r <= c["attn_resolution"]
            for k in range(c["level_blocks"][l]):
                nm = f"down.{l}.{k}"
                self.res_params(nm, ch, co)
                self.stages.append(("res", nm, ch, co, r))
                ch = co
                if attn:
                    self.attn_stage(nm, ch)
                self.stages.append(("push",))
                skip_ch.append(ch)
            if l < L - 1 or uvit:
                self.stages.append(("down",))
                r //= 2
        if uvit:
            W, T = c["tf_width"], r * r
            self.tf_res = r
            self.lin("tf.in", ch, W)
            self.p["tf.pos"] = torch.zeros(T, W)
            for i in range(c["tf_depth"]):
                self.lin(f"tf.blocks.{i}.ada", E, 4 * W)
                self.attn_params(f"tf.blocks.{i}.attn", W, False)
                if self.ctx:
                    self.xattn_params(f"tf.blocks.{i}.xattn", W)
                self.lin(f"tf.blocks.{i}.fc1", W, c["tf_mlp_ratio"] * W)
                self.lin(f"tf.blocks.{i}.fc2", c["tf_mlp_ratio"] * W, W)
            self.norm("tf.norm", W)
            self.lin("tf.out", W, ch)
            self.stages.append(("tf",))
            r *= 2
            self.conv("tf.up", ch, ch, 3)
            self.stages.append(("up", "tf.up"))
        else:
            self.res_params("mid.0", ch, ch)
            self.stages.append(("res", "mid.0", ch, ch, r))
            if c["attn_resolution"] > 0:
                self.attn_stage("mid", ch)
            self.res_params("mid.1", ch, ch)
            self.stages.append(("res", "mid.1", ch, ch, r))
        for l in range(L - 1, -1, -1):
            co = c["level_channels"][l]
            attn = (not uvit) and r <= c["attn_resolution"]
            for k in range(c["level_blocks"][l]):
                nm = f"up.{l}.{k}"
                ci = ch + skip_ch.pop()
                self.res_params(nm, ci, co)
                self.stages.append(("resskip", nm, ci, co, r))
                ch = co
                if attn:
                    self.attn_stage(nm, ch)
            if l > 0:
                self.conv(f"up.{l}.upconv", ch, ch, 3)
                self.stages.append(("up", f"up.{l}.upconv"))
                r *= 2
        self.norm("out.norm", ch)
        if c["stem"] == PATCH:
            p = c["stem_param"]
            self.p["out.conv.weight"] = torch.zeros(ch, C, p, p)
            self.p["out.conv.bias"] = torch.zeros(C)
        else:
            self.conv("out.conv", ch, self.cin, 3)
        if c.get("wiener_skip", 0):
            k = self.cin if c["stem"] == DWT else C
            self.p["skip.mean"] = torch.zeros(k)
            self.p["skip.std"] = torch.ones(k)

    # -- forward --
    def L(self, name, x):
        return F.linear(x, self.p[name + ".weight"], self.p[name + ".bias"])

    def C(self, name, x, stride=1, pad=1):
        return F.conv2d(x, self.p[name + ".weight"], self.p[name + ".bias"], stride, pad)

    def gn(self, x, name=None):
        G = self.cfg["norm_groups"]
        if name is None:
            return F.group_norm(x, G, eps=1e-5)
        return F.group_norm(x, G, self.p[name + ".weight"], self.p[name + ".bias"], eps=1e-5)

    def context(self, ctx, lens):
        """ctx (N, T, D), lens (N,) in 0..T, 0 = the learned null context
        (one token). Sets self.cp (projected, (N, T, ctx_ch)) and self.kl
        (key lengths, null: 1); returns the pooled context's linear."""
        c = self.cfg
        N, T, D = ctx.shape
        keep = (torch.arange(T)[None, :] < lens[:, None]).double()  # (N, T)
        nul = torch.zeros(N, T, 1)
        nul[:, 0, 0] = (lens == 0).double()
        x = ctx * keep[:, :, None] + nul * self.p["ctx.null"][None]
        h = F.layer_norm(x, (D,), self.p["ctx.norm.weight"], self.p["ctx.norm.bias"], eps=1e-6)
        self.cp = self.L("ctx.proj", h)
        self.kl = torch.clamp(lens, min=1)
        w = (torch.arange(T)[None, :] < self.kl[:, None]).double() / self.kl[:, None]
        pooled = (w[:, :, None] * self.cp).sum(1)
        return self.L("emb.ctx", pooled)

    def embedding(self, logsnr, labels, cond):
        c = self.cfg
        E = c["emb_dim"]
        half = E // 4
        fr = torch.tensor([math.exp(-math.log(1000.0) * k / half) for k in range(half)])
        a = logsnr[:, None] * fr[None, :]
        phi = torch.cat([torch.sin(a), torch.cos(a)], 1).float().double()
        h = self.L("emb.fc2", F.silu(self.L("emb.fc1", phi)))
        if c["num_classes"] > 0:
            ids = torch.where(labels < 0, torch.full_like(labels, c["num_classes"]), labels)
            h = h + self.p["emb.class"][ids]
        if c["cond_dim"] > 0:
            h = h + self.L("emb.cond", cond)
        if self.ctx:
            h = h + self.pooled
        return F.silu(h)

    def res(self, name, x, e, co):
        h = self.C(name + ".conv1", F.silu(self.gn(x, name + ".norm1")))
        s = self.L(name + ".emb", e)
        scale, shift = s[:, :co], s[:, co:]
        h = self.gn(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        h = self.C(name + ".conv2", F.silu(h))  # dropout off in fixtures
        skip = self.C(name + ".skip", x, 1, 0) if (name + ".skip.weight") in self.p else x
        return skip + h

    def encoder(self, tok, lens):
        """The text encoder: ids (N, T) (any ids past each length), lens
        (N,) in 0..T -> (N, T, D); the padding is masked in self-attention
        (key length max(len, 1))."""
        c = self.cfg
        D = c["ctx_dim"]
        t = self.p["text.tok"][tok] + self.p["text.pos"][None]
        kl = torch.clamp(lens, min=1)
        for i in range(c["text_layers"]):
            b = f"text.blocks.{i}"
            h = F.layer_norm(t, (D,), self.p[b + ".attn.norm.weight"],
                             self.p[b + ".attn.norm.bias"], eps=1e-6)
            t = t + self.mhsa(b + ".attn", h, c["text_heads"], key_len=kl)
            h = F.layer_norm(t, (D,), self.p[b + ".norm2.weight"], self.p[b + ".norm2.bias"],
                             eps=1e-6)
            t = t + self.L(b + ".fc2", F.gelu(self.L(b + ".fc1", h)))
        return F.layer_norm(t, (D,), self.p["text.norm.weight"], self.p["text.norm.bias"],
                            eps=1e-6)

    def mhsa(self, name, t, heads, cross=False, key_len=None):
        """Self-attention, or (cross) attention over the projected context
        self.cp with keys j >= self.kl masked, or self-attention with keys
        j >= key_len masked."""
        kv = self.cp if cross else t
        q, k, v = self.L(name + ".q", t), self.L(name + ".k", kv), self.L(name + ".v", kv)
        N, T, D = q.shape
        S = k.shape[1]
        dh = D // heads
        sp = lambda a, n: a.reshape(N, n, heads, dh).transpose(1, 2)
        s = sp(q, T) @ sp(k, S).transpose(-1, -2) / math.sqrt(dh)
        if cross or key_len is not None:
            kl = self.kl if cross else key_len
            keep = torch.arange(S)[None, :] < kl[:, None]
            s = s.masked_fill(~keep[:, None, None, :], float("-inf"))
        a = torch.softmax(s, -1) @ sp(v, S)
        return self.L(name + ".out", a.transpose(1, 2).reshape(N, T, D))

    def attn(self, name, x, cross=False):
        N, ch, H, W = x.shape
        h = self.gn(x, name + ".norm")
        t = h.permute(0, 2, 3, 1).reshape(N, H * W, ch)
        o = self.mhsa(name, t, self.cfg["attn_heads"], cross)
        return x + o.reshape(N, H, W, ch).permute(0, 3, 1, 2)

    def transformer(self, x, e):
        c = self.cfg
        N, ch, H, W = x.shape
        Wd = c["tf_width"]
        t = self.L("tf.in", x.permute(0, 2, 3, 1).reshape(N, H * W, ch)) + self.p["tf.pos"]
        for i in range(c["tf_depth"]):
            b = f"tf.blocks.{i}"
            a = self.L(b + ".ada", e)
            s1, b1, s2, b2 = a[:, :Wd], a[:, Wd:2 * Wd], a[:, 2 * Wd:3 * Wd], a[:, 3 * Wd:]
            h = F.layer_norm(t, (Wd,), eps=1e-6) * (1 + s1[:, None]) + b1[:, None]
            t = t + self.mhsa(b + ".attn", h, c["tf_heads"])
            if self.ctx:
                h = F.layer_norm(t, (Wd,), self.p[b + ".xattn.norm.weight"],
                                 self.p[b + ".xattn.norm.bias"], eps=1e-6)
                t = t + self.mhsa(b + ".xattn", h, c["tf_heads"], True)
            h = F.layer_norm(t, (Wd,), eps=1e-6) * (1 + s2[:, None]) + b2[:, None]
            t = t + self.L(b + ".fc2", F.gelu(self.L(b + ".fc1", h)))
        t = F.layer_norm(t, (Wd,), self.p["tf.norm.weight"], self.p["tf.norm.bias"], eps=1e-6)
        t = self.L("tf.out", t)
        return t.reshape(N, H, W, ch).permute(0, 3, 1, 2)

    def forward(self, z, logsnr, labels, cond, ctx=None, lens=None, tok=None):
        c = self.cfg
        if self.text:
            ctx = self.encoder(tok, lens)
        if self.ctx:
            self.pooled = self.context(ctx, lens)
        e = self.embedding(logsnr, labels, cond)
        if c["stem"] == PATCH:
            h = self.C("stem.conv", z, c["stem_param"], 0)
        elif c["stem"] == DWT:
            h = self.C("stem.conv", dwt53(z, c["stem_param"]))
        else:
            h = self.C("stem.conv", z)
        skips = []
        for st in self.stages:
            kind = st[0]
            if kind == "res":
                h = self.res(st[1], h, e, st[3])
            elif kind == "resskip":
                h = self.res(st[1], torch.cat([h, skips.pop()], 1), e, st[3])
            elif kind == "attn":
                h = self.attn(st[1], h)
            elif kind == "xattn":
                h = self.attn(st[1], h, True)
            elif kind == "push":
                skips.append(h)
            elif kind == "down":
                h = F.avg_pool2d(h, 2)
            elif kind == "up":
                h = self.C(st[1], F.interpolate(h, scale_factor=2, mode="nearest"))
            elif kind == "tf":
                h = self.transformer(h, e)
        h = F.silu(self.gn(h, "out.norm"))
        if c["stem"] == PATCH:
            p = c["stem_param"]
            o = F.conv_transpose2d(h, self.p["out.conv.weight"], self.p["out.conv.bias"], p)
            return o + self.wiener(z, logsnr) if c.get("wiener_skip", 0) else o
        if c["stem"] == DWT:
            o = self.C("out.conv", h)
            if c.get("wiener_skip", 0):
                o = o + self.wiener(dwt53(z, c["stem_param"]), logsnr)
            return idwt53(o, c["stem_param"])
        o = self.C("out.conv", h)
        return o + self.wiener(z, logsnr) if c.get("wiener_skip", 0) else o

    def noise_std(self, k):
        """Std of each stem-domain channel on unit white noise: the norm of
        an interior coefficient's row of the (linear) stem, from the
        reference DWT applied to every unit image (pixels: 1)."""
        c = self.cfg
        if c["stem"] != DWT:
            return torch.ones(k)
        Ld, C = c["stem_param"], c["channels"]
        S = 8 << Ld
        basis = torch.eye(C * S * S).reshape(C * S * S, C, S, S)
        rows = dwt53(basis, Ld)  # (C*S*S, k, 8, 8): the response to each unit pixel
        return rows[:, :, 4, 4].pow(2).sum(0).sqrt()

    def wiener(self, d, logsnr):
        """The best per-channel linear estimate of the target from d
        (docs/architecture.md, "Wiener skip"): x_hat = mu + g (d - alpha mu),
        g = alpha s^2 / (alpha^2 s^2 + sigma^2 n^2), then
        eps_hat = (d - alpha x_hat) / sigma and v_hat = alpha eps_hat - sigma x_hat."""
        k = d.shape[1]
        mu = self.p["skip.mean"].detach().view(1, k, 1, 1)
        s2 = self.p["skip.std"].detach().pow(2).view(1, k, 1, 1)
        n2 = self.noise_std(k).pow(2).view(1, k, 1, 1)
        a = torch.sigmoid(logsnr).sqrt().view(-1, 1, 1, 1)
        sg = torch.sigmoid(-logsnr).sqrt().view(-1, 1, 1, 1)
        x_hat = mu + a * s2 / (a * a * s2 + sg * sg * n2) * (d - a * mu)
        eps_hat = (d - a * x_hat) / sg
        return eps_hat if self.cfg["prediction"] == 1 else a * eps_hat - sg * x_hat


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    off = 0
    blobs = []
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def base_cfg(**kw):
    cfg = dict(arch=UNET, image_size=8, channels=1, stem=NONE, stem_param=0,
               num_levels=2, level_channels=[8, 16], level_blocks=[1, 1],
               norm_groups=4, emb_dim=16, attn_resolution=4, attn_heads=2,
               tf_width=16, tf_depth=2, tf_heads=2, tf_mlp_ratio=2,
               dropout_res=0.0, dropout_tf=0.0, dropout_max_resolution=16,
               num_classes=0, cond_dim=0, prediction=0)
    cfg.update(kw)
    return cfg


CASES = {
    # U-Net, no stem, unconditional, attention at 4x4 and in the middle.
    "unet_plain": base_cfg(),
    # U-Net, class-conditional with an external vector, 2x2 patch stem, RGB.
    "unet_patch_cond": base_cfg(image_size=8, channels=3, stem=PATCH, stem_param=2,
                                num_classes=3, cond_dim=5, attn_resolution=2),
    # U-Net with a 1-level DWT stem, 2 blocks on the first level.
    "unet_dwt": base_cfg(image_size=16, stem=DWT, stem_param=1, level_blocks=[2, 1],
                         num_classes=4),
    # U-ViT: one conv level around a 2-block transformer at 4x4, class-conditional.
    "uvit_plain": base_cfg(arch=UVIT, num_levels=1, level_channels=[8], level_blocks=[1],
                           attn_resolution=4, num_classes=3),
    # U-ViT with a DWT stem and two conv levels (transformer at 2x2), RGB.
    "uvit_dwt": base_cfg(arch=UVIT, image_size=16, channels=3, stem=DWT, stem_param=1,
                         num_levels=2, level_channels=[8, 8], level_blocks=[1, 1],
                         attn_resolution=2, cond_dim=3),
    # U-ViT with a 2x2 patch stem, unconditional.
    "uvit_patch": base_cfg(arch=UVIT, image_size=8, stem=PATCH, stem_param=2,
                           num_levels=1, level_channels=[8], level_blocks=[1],
                           attn_resolution=2),
    # With a context of up to 4 tokens of 6 floats (cross-attention), a
    # class and (U-ViT) a pooled vector too; lengths 4, 0 (null) and 2.
    "unet_ctx": base_cfg(num_classes=3, ctx_dim=6, ctx_len=4),
    "uvit_ctx": base_cfg(arch=UVIT, num_levels=1, level_channels=[8], level_blocks=[1],
                         attn_resolution=4, num_classes=3, cond_dim=3, ctx_dim=6,
                         ctx_len=4),
    # With the built-in text encoder (2 layers, 2 heads, 8 wide, at most 5
    # tokens, 7 ids): token ids with lengths 5, 0 (null) and 2, garbage ids
    # past each length; a U-ViT and a U-Net.
    "uvit_text": base_cfg(arch=UVIT, num_levels=1, level_channels=[8], level_blocks=[1],
                          attn_resolution=4, num_classes=3, ctx_dim=8, ctx_len=5,
                          text_vocab=7, text_layers=2, text_heads=2),
    "unet_text": base_cfg(ctx_dim=8, ctx_len=5, text_vocab=7, text_layers=1, text_heads=4),
    # With the Wiener skip: a U-ViT with a 2-level DWT stem on RGB (48 bands)
    # predicting v, and a U-Net without a stem predicting eps.
    "uvit_dwt_skip": base_cfg(arch=UVIT, image_size=16, channels=3, stem=DWT, stem_param=2,
                              num_levels=1, level_channels=[48], level_blocks=[1],
                              norm_groups=4, attn_resolution=2, num_classes=3,
                              wiener_skip=1),
    "unet_skip_eps": base_cfg(channels=2, prediction=1, wiener_skip=1),
}
# The vocabulary stored with the text cases (ids 2..6).
TEXT_VOCAB = "red\nheart\nblue\ncat\nface\n"


def make_case(name, cfg, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = Net(cfg)
    # Random weights everywhere (zero-init layers too, so every gradient is
    # exercised), scaled like a fan-in init; norms near 1.
    for k, t in net.p.items():
        if k == "skip.std":  # a data std per band: positive, 0.05..1.55
            t.copy_(0.05 + 1.5 * torch.rand(t.shape, generator=g))
        elif k.endswith("norm1.weight") or k.endswith("norm.weight"):
            t.copy_(1 + 0.2 * (torch.rand(t.shape, generator=g) * 2 - 1))
        elif k.endswith(".weight") and t.dim() >= 2:
            fan = t[0].numel()
            t.copy_((torch.rand(t.shape, generator=g) * 2 - 1) / math.sqrt(fan))
        else:
            t.copy_((torch.rand(t.shape, generator=g) * 2 - 1) * 0.3)
    # Round the weights to float32 so both sides use identical values.
    for k in net.p:
        net.p[k] = net.p[k].float().double().requires_grad_()
    C, d = cfg["channels"], cfg["image_size"]
    z = (torch.randn(n, C, d, d, generator=g)).float().double()
    logsnr = torch.tensor([-8.5, 0.25, 11.0][:n] + [1.0] * max(0, n - 3))
    labels = torch.tensor([1, -1, 0][:n] + [0] * max(0, n - 3))
    if cfg["num_classes"] == 0:
        labels = torch.full((n,), -1)
    cond = torch.randn(n, max(cfg["cond_dim"], 1), generator=g).float().double()
    arrays = {}
    ctx = lens = tok = None
    meta = {"format": "simdiff", "simdiff.config": config_text(cfg)}
    if cfg.get("text_vocab", 0) > 0:
        T = cfg["ctx_len"]
        tok = torch.randint(0, cfg["text_vocab"], (n, T), generator=g)
        lens = torch.tensor([T, 0, 2][:n])
        arrays = {"tokens": tok.double(), "ctx_len": lens.double()}
        meta["simdiff.vocab"] = TEXT_VOCAB
    elif cfg.get("ctx_dim", 0) > 0:
        # Padded tokens hold garbage (large values): they must not be read.
        ctx = (torch.randn(n, cfg["ctx_len"], cfg["ctx_dim"], generator=g) * 3).float().double()
        lens = torch.tensor([cfg["ctx_len"], 0, 2][:n])
        arrays = {"ctx": ctx, "ctx_len": lens.double()}
    out = net.forward(z, logsnr, labels, cond, ctx, lens, tok)
    R = (torch.rand(out.shape, generator=g) * 2 - 1).float().double()
    (out * R).sum().backward()
    here = os.path.dirname(os.path.abspath(__file__))
    d_out = os.path.join(here, "..", "fixtures", "model")
    os.makedirs(d_out, exist_ok=True)
    write_safetensors(os.path.join(d_out, name + ".safetensors"), net.p, meta)
    arrays.update({"z": z, "logsnr": logsnr, "labels": labels.double(), "cond": cond,
                   "out": out, "R": R})
    for k, t in net.p.items():
        arrays["grad." + k] = t.grad if t.grad is not None else torch.zeros_like(t)
    if cfg.get("wiener_skip", 0):
        # simdiff_model_fit_skip's statistics of 5 images (coloured, with a
        # channel offset so that the means differ): the mean and (biased)
        # std over images and positions of every stem-domain channel.
        x = (torch.rand(5, C, d, d, generator=g) * 1.6 - 0.9 +
             0.1 * torch.arange(C).view(1, C, 1, 1)).float().double()
        y = dwt53(x, cfg["stem_param"]) if cfg["stem"] == DWT else x
        arrays["fit.x"] = x
        arrays["fit.mean"] = y.mean((0, 2, 3))
        arrays["fit.std"] = y.var((0, 2, 3), unbiased=False).sqrt()
    sdfx.write(os.path.join(d_out, name + ".sdfx"), arrays)
    nparams = sum(t.numel() for t in net.p.values())
    print(f"{name}: {len(net.p)} tensors, {nparams} params, out {tuple(out.shape)}")


if __name__ == "__main__":
    import sys
    # Optional case names: only those (the others' files stay as they are).
    for name, cfg in CASES.items():
        if len(sys.argv) < 2 or name in sys.argv[1:]:
            make_case(name, cfg)
