"""Reduces a llama.cpp logits file (`llama-perplexity --kl-divergence-base`)
to what a test can keep in the repository: the scored tokens, and at each
scored position llama.cpp's most likely token and its lead over the second.

    python summarize.py LOGITS MODEL.gguf SHAPE LLAMA_PPL OUT.json

Run by `cargo xtask verify-models --write-fixtures`; read by the engine's
architecture tests (`crates/engine/tests/it/architectures.rs`).
"""

import hashlib
import json
import sys

import numpy as np


def main():
    logits, model, shape, ppl, out = sys.argv[1:]
    data = open(logits, "rb").read()
    if data[:8] != b"_logits_":
        sys.exit(f"{logits} is not a llama.cpp logits file")
    n_ctx, n_vocab, n_chunk = (int(x) for x in np.frombuffer(data, "<i4", 3, 8))
    tokens = np.frombuffer(data, "<i4", n_chunk * n_ctx, 20)
    stride = 2 * ((n_vocab + 1) // 2) + 4
    rows = n_chunk * (n_ctx - 1 - n_ctx // 2)
    body = np.frombuffer(data, "<u2", rows * stride, 20 + 4 * n_chunk * n_ctx)
    body = body.reshape(rows, stride)
    head = body[:, :4].copy().view("<f4")
    scale, low = head[:, 0:1], head[:, 1:2]
    logprobs = scale * body[:, 4 : 4 + n_vocab].astype(np.float32) + low
    top = np.argmax(logprobs, axis=1)
    best = logprobs[np.arange(rows), top]
    rest = logprobs.copy()
    rest[np.arange(rows), top] = -np.inf
    margin = best - rest.max(axis=1)
    digest = hashlib.sha256(open(model, "rb").read()).hexdigest()
    summary = {
        "shape": shape,
        "model_sha256": digest,
        "context": n_ctx,
        "vocab": n_vocab,
        "llama_ppl": float(ppl),
        "tokens": [int(t) for t in tokens],
        "top": [[int(t), round(float(m), 4)] for t, m in zip(top, margin)],
    }
    with open(out, "w") as f:
        json.dump(summary, f, separators=(",", ":"))
        f.write("\n")


main()
