#!/usr/bin/env python3
"""Writes tiny_tokenizer.json: a minimal Hugging Face byte-level BPE tokenizer.json.

Ids 0..255 are the 256 byte-level characters in byte order (so the id of a plain
ASCII character is its byte value), then a few merges spelling "hello" and " w",
then added tokens: two special ones (<|im_start|>, <|im_end|>) and a non-special
one (<tool>). The integration test puts it beside a model file and checks that it
overrides the GGUF vocabulary.
"""

import json
from pathlib import Path


def byte_chars():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def main() -> None:
    chars = byte_chars()
    vocab = {chars[b]: b for b in range(256)}
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("\u0120", "w")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    added = []
    for content, special in (("<|im_start|>", True), ("<|im_end|>", True), ("<tool>", False)):
        added.append(
            {
                "id": len(vocab) + len(added),
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": special,
            }
        )
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": [f"{l} {r}" for l, r in merges],
        },
    }
    out = Path(__file__).resolve().parent / "tiny_tokenizer.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
