"""Embedding throughput: chunks/s of ~256-token chunks, sentence-transformers
against `hearth embed`, on the same texts and the same CPU.

    ~/.cache/hearth/st-venv/bin/python throughput.py MODEL_DIR HEARTH_BINARY [N]

Hearth's time is `hearth embed` with N chunks less `hearth embed` with one
(process start and model load), best of three runs each.
"""

import os
import subprocess
import sys
import time

from sentence_transformers import SentenceTransformer

WORDS = (
    "retrieval chunking embeddings local model privacy encrypted database sentence "
    "transformer attention layer token vector cosine similarity search ranking fusion "
    "document paragraph heading otter volcano bread tide chess coffee solar guitar"
).split()


def chunks(tokenizer, n, tokens=256):
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(400)]
        ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"][: tokens - 2]
        out.append(tokenizer.decode(ids))
    return out


def best(f, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    model_dir, hearth = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    model = SentenceTransformer(model_dir, device="cpu")
    texts = chunks(model.tokenizer, n)
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in texts]
    print(f"{n} chunks, {min(lengths)}-{max(lengths)} tokens each (with [CLS]/[SEP])")
    import torch

    print(f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    model.encode(texts[:4])  # warm up
    st = best(lambda: model.encode(texts, batch_size=16))
    print(f"sentence-transformers: {n / st:.1f} chunks/s ({st:.2f} s)")

    run = lambda ts: subprocess.run([hearth, "embed", "-m", model_dir, *ts], check=True, stdout=subprocess.DEVNULL)
    one = best(lambda: run(texts[:1]))
    full = best(lambda: run(texts))
    print(f"hearth: {n / (full - one):.1f} chunks/s ({full - one:.2f} s; start and load {one:.2f} s)")


if __name__ == "__main__":
    main()
