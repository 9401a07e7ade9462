"""Reference run for `cargo xtask bench-docs`: sentence-transformers embedding the
same chunk texts as Hearth's engine, with the same thread count.

Prints one JSON object: {"chunks_per_s": ..., "what": ...}. Not used by tests.
Needs `pip install sentence-transformers` (and torch).
"""

import json
import sys
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer


def main():
    model_dir, texts_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(texts[:8], batch_size=16)  # warm-up, as on the Hearth side
    t0 = time.perf_counter()
    model.encode(texts, batch_size=16, normalize_embeddings=True)
    secs = time.perf_counter() - t0
    print(json.dumps({
        "chunks_per_s": len(texts) / secs,
        "what": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
    }))


if __name__ == "__main__":
    main()
