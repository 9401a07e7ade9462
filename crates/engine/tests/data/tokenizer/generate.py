#!/usr/bin/env python3
"""Expected token ids for the tokenizer corpus, from llama.cpp (the GGUF reference).

Not run in CI: CI compares against the committed JSON files. To regenerate:

    CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python
    python3 generate.py ~/.cache/hearth/test-models

Writes smollm2.json and gemma3.json next to this script. For every corpus entry and
both values of parse_special, it records llama.cpp's ids (with add_bos=True, so BOS
appears when the model asks for it) and whether the concatenated token pieces
(llama_token_to_piece with special=False) give back the input exactly.
"""

import ctypes
import json
import sys
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

HERE = Path(__file__).resolve().parent
MODELS = {
    "smollm2.json": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3.json": "gemma-3-270m-q4_k_m.gguf",
}


def piece(vocab, token: int) -> bytes:
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
    return buf.raw[:n]


def main() -> None:
    model_dir = Path(sys.argv[1]).expanduser()
    corpus = json.loads((HERE / "corpus.json").read_text(encoding="utf-8"))
    for out_name, file_name in MODELS.items():
        llm = Llama(str(model_dir / file_name), vocab_only=True, verbose=False)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        cases = []
        for index, text in enumerate(corpus):
            for parse_special in (False, True):
                ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=parse_special)
                decoded = b"".join(piece(vocab, t) for t in ids)
                cases.append(
                    {
                        "text": index,
                        "parse_special": parse_special,
                        "ids": ids,
                        "roundtrip": decoded == text.encode("utf-8"),
                    }
                )
        doc = {"model": file_name, "add_bos": True, "cases": cases}
        (HERE / out_name).write_text(json.dumps(doc, indent=None) + "\n", encoding="utf-8")
        print(f"{out_name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
