"""Pieces shared by the project's sample-quality evaluators (numpy only).

fmnist_eval.py and emoji_eval.py (docs/evaluation.md) both run a small
classifier forward in numpy and measure a Frechet distance between Gaussians
fitted to its penultimate-layer features. This module holds what they share:
the safetensors reader (every byte checked against a fixed layout) and
writer (atomic), the 3 x 3 convolution + ReLU + 2 x 2 max pooling block, and
the Frechet distance (matrix square roots from numpy.linalg.eigh, no scipy).
"""
import json
import os
import struct

import numpy as np

# ---- weights (safetensors) -----------------------------------------------------

_DTYPES = {'F32': np.dtype('<f4'), 'F16': np.dtype('<f2')}


def load_safetensors(path, layout):
    """(name -> float32 array, metadata dict) of a safetensors file that must
    hold exactly the tensors of `layout` (name -> shape), F32 or F16, finite,
    with offsets inside the file. Raises ValueError otherwise."""
    with open(path, 'rb') as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError('%s: too short for safetensors' % path)
    hlen, = struct.unpack('<Q', blob[:8])
    if hlen > 1 << 20 or 8 + hlen > len(blob):
        raise ValueError('%s: header length %d does not fit the file' % (path, hlen))
    try:
        header = json.loads(blob[8:8 + hlen].decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError('%s: header is not JSON (%s)' % (path, e))
    if not isinstance(header, dict):
        raise ValueError('%s: header is not a JSON object' % path)
    data = memoryview(blob)[8 + hlen:]
    meta = header.pop('__metadata__', {}) or {}
    if not isinstance(meta, dict):
        raise ValueError('%s: __metadata__ is not an object' % path)
    if set(header) != set(layout):
        raise ValueError('%s: tensors %s, expected %s' % (path, sorted(header), sorted(layout)))
    weights = {}
    for name, shape in layout.items():
        t = header[name]
        dt = _DTYPES.get(t.get('dtype')) if isinstance(t, dict) else None
        if dt is None or tuple(t.get('shape', ())) != shape:
            raise ValueError('%s: %s is %s, expected F32/F16 %s' % (path, name, t, shape))
        off = t.get('data_offsets')
        if (not isinstance(off, list) or len(off) != 2
                or not all(isinstance(v, int) for v in off)):
            raise ValueError('%s: %s has bad data offsets %s' % (path, name, off))
        a, b = off
        if not (0 <= a <= b <= len(data)) or b - a != int(np.prod(shape)) * dt.itemsize:
            raise ValueError('%s: %s has bad data offsets %s' % (path, name, (a, b)))
        w = np.frombuffer(data[a:b], dtype=dt).astype(np.float32).reshape(shape)
        if not np.all(np.isfinite(w)):
            raise ValueError('%s: %s holds non-finite values' % (path, name))
        weights[name] = w
    return weights, meta


def write_safetensors(path, tensors, metadata):
    """name -> float32 numpy array, written F32 little-endian, atomically
    (a temporary file beside `path`, fsync, rename)."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype='<f4')
        header[name] = {'dtype': 'F32', 'shape': list(a.shape),
                        'data_offsets': [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':'), sort_keys=True).encode('utf-8')
    h += b' ' * (-len(h) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

# ---- network blocks ------------------------------------------------------------


def conv3x3_relu_pool(x, w, b):
    """x float32 (N, C, H, W), w (O, C, 3, 3), b (O,) -> (N, O, H/2, W/2):
    3 x 3 convolution with zero padding 1, ReLU, 2 x 2 max pooling.
    Pooling first, then bias and ReLU: max(relu(a_i + b)) = relu(max(a_i) + b)
    exactly (both are monotone), on a quarter of the values."""
    n, c, h, wd = x.shape
    o = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).transpose(1, 0, 2, 3)
    # columns (C, 9, N, H, W), tap index ky * 3 + kx, as w.reshape(O, C * 9):
    # one matrix product for the whole batch
    cols = np.empty((c, 9, n, h, wd), np.float32)
    for ky in range(3):
        for kx in range(3):
            cols[:, ky * 3 + kx] = xp[:, :, ky:ky + h, kx:kx + wd]
    y = (w.reshape(o, -1) @ cols.reshape(c * 9, n * h * wd)).reshape(o, n, h, wd)
    m = np.maximum(np.maximum(y[:, :, 0::2, 0::2], y[:, :, 0::2, 1::2]),
                   np.maximum(y[:, :, 1::2, 0::2], y[:, :, 1::2, 1::2]))
    m += b[:, None, None, None]
    np.maximum(m, 0.0, out=m)
    return m.transpose(1, 0, 2, 3)

def forward_convnet(weights, x, convs, batch):
    """The evaluators' classifiers: the 3 x 3 conv blocks `convs` (names of
    '<k>.weight' / '<k>.bias'), then f1 + ReLU (the features) and f2 (the
    logits). x float32 (N, C, H, W) -> (features, logits), float32, `batch`
    images at a time."""
    feats, logits = [], []
    for i in range(0, x.shape[0], batch):
        h = np.asarray(x[i:i + batch], dtype=np.float32)
        for k in convs:
            h = conv3x3_relu_pool(h, weights[k + '.weight'], weights[k + '.bias'])
        h = h.reshape(h.shape[0], -1)
        f = np.maximum(h @ weights['f1.weight'].T + weights['f1.bias'], 0.0)
        feats.append(f)
        logits.append(f @ weights['f2.weight'].T + weights['f2.bias'])
    if not feats:
        return (np.zeros((0, weights['f1.weight'].shape[0]), np.float32),
                np.zeros((0, weights['f2.weight'].shape[0]), np.float32))
    return np.concatenate(feats), np.concatenate(logits)


def scores(features, logits, ref_features, labels=None):
    """dict(n, fid[, class_accuracy]) of one sample set's features and logits."""
    out = {'n': features.shape[0], 'fid': fid(features, ref_features)}
    if labels is not None:
        out['class_accuracy'] = float(np.mean(logits.argmax(axis=1) == labels))
    return out

# ---- Frechet distance ------------------------------------------------------------


def stats(features):
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(c):
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet(mu1, c1, mu2, c2):
    """|mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2), where
    tr((C1 C2)^1/2) = tr((C1^1/2 C2 C1^1/2)^1/2): a symmetric PSD matrix, so
    both square roots come from numpy.linalg.eigh."""
    s1 = _psd_sqrt(c1)
    m = s1 @ c2 @ s1
    e = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(e, 0.0, None)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)


def fid(features_a, features_b):
    return frechet(*stats(features_a), *stats(features_b))
