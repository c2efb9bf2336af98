"""The embedded model's own process: one GGUF file loaded by llama-cpp-python, answering chat requests.

Started by models/local.py as `python local_worker.py <gguf> <n_ctx> <threads, 0: llama's default>`; it
imports only the standard library and llama_cpp, so a native crash (SIGILL from a build that does not fit
the CPU, SIGSEGV, the out-of-memory killer) ends this process, never its caller's.

Protocol: one JSON object per line. Standard output carries only the protocol (anything native code
prints goes to standard error); the first line is `{"ready": true, "pid": ...}` once the model has
loaded and written one token, or `{"ready": false, "error": ...}`. Then each request
`{"id": n, "messages": [...], "params": {...}}` gets `{"id": n, "reply": {...}}` (an OpenAI-shaped
chat completion) or `{"id": n, "error": "Type: message"}`. The process ends when its standard input
closes, which is also what happens when its caller dies, however it dies: no orphan.
"""

import faulthandler
import json
import os
import signal
import sys
from typing import Any


def main(path: str, n_ctx: int, threads: int) -> int:
    faulthandler.enable()  # a native crash writes the Python stack to stderr, for the caller's log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller, which stops the run
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever llama.cpp prints goes to stderr, never into the protocol

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        import llama_cpp

        sized: dict[str, Any] = {"n_threads": threads, "n_threads_batch": threads} if threads > 0 else {}
        llama = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, verbose=False, **sized)
    except Exception as e:  # a broken file, an old llama.cpp: the caller reports it
        send({"ready": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    # One token now: a build that does not run on this CPU crashes here, before any real request.
    llama.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
    send({"ready": True, "pid": os.getpid(), "llama_cpp": llama_cpp.__version__})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = llama.create_chat_completion(messages=request["messages"], **request.get("params", {}))
            send({"id": request["id"], "reply": reply})
        except Exception as e:  # e.g. a prompt longer than the context: that request fails, not the process
            send({"id": request["id"], "error": f"{type(e).__name__}: {e}"})
    llama.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
