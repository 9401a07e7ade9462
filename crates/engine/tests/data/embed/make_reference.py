"""Reference vectors for the embedding test (crates/engine/tests/it/embed.rs).

Run once with sentence-transformers installed (not needed in CI):

    ~/.cache/hearth/st-venv/bin/python make_reference.py ~/.cache/hearth/test-models/all-MiniLM-L6-v2

It writes all-MiniLM-L6-v2.json beside this script: the sentences and the
vectors sentence-transformers computes for them (rounded to 5 decimals).
"""

import json
import pathlib
import sys

from sentence_transformers import SentenceTransformer

SENTENCES = [
    "The cat sits on the mat.",
    "A quick brown fox jumps over the lazy dog!",
    "Hearth keeps your chats on your own machine, encrypted at rest.",
    "Café, naïve, Zürich — and 東京 with emoji 🙂 too.",
    "",
    # Longer than the model's 256-token window: checks truncation.
    " ".join(f"Paragraph {i} talks about retrieval, chunking and embeddings." for i in range(60)),
]


def main() -> None:
    model = SentenceTransformer(sys.argv[1], device="cpu")
    vectors = model.encode(SENTENCES, convert_to_numpy=True)
    out = {
        "model": "all-MiniLM-L6-v2",
        "sentences": SENTENCES,
        "vectors": [[round(float(x), 5) for x in v] for v in vectors],
    }
    path = pathlib.Path(__file__).with_name("all-MiniLM-L6-v2.json")
    path.write_text(json.dumps(out, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
