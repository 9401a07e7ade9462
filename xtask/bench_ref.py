"""Reference run for `cargo xtask bench`: llama.cpp (through llama-cpp-python) on
the same model file, thread count and token counts as `hearth bench`.

Prints one JSON object like `hearth bench --json`. Not used by tests. Needs
`pip install llama-cpp-python` (builds llama.cpp from source, a few minutes).
"""

import json
import statistics
import sys
import time

from llama_cpp import Llama


def bench_tokens(n, vocab):
    # The same synthetic ids hearth bench uses: a fixed walk over the vocabulary.
    return [1 + (i * 7919) % (vocab - 1) for i in range(n)]


def main():
    path, threads, prompt_n, gen_n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    t0 = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=prompt_n + gen_n + 16, n_batch=prompt_n, n_ubatch=prompt_n,
                n_threads=threads, n_threads_batch=threads, verbose=False)
    load = time.perf_counter() - t0
    vocab = llm.n_vocab()
    prompt = bench_tokens(prompt_n, vocab)
    gen = bench_tokens(gen_n, vocab)[::-1]
    prefill, decode = [], []
    for i in range(runs + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        for tok in gen:
            llm.eval([tok])
        t2 = time.perf_counter()
        if i > 0:  # the first run is a warm-up, as in hearth bench
            prefill.append(prompt_n / (t1 - t0))
            decode.append(gen_n / (t2 - t1))
    print(json.dumps({
        "prefill_tok_s": statistics.median(prefill),
        "decode_tok_s": statistics.median(decode),
        "load_secs": load,
    }))


if __name__ == "__main__":
    main()
