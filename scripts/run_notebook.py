"""Execute a notebook headless and write the executed notebook and an HTML export of it.

Usage: python scripts/run_notebook.py notebooks/quickstart.ipynb --out-dir out [--timeout 1200]

The kernel runs in --out-dir (so the notebook's mlflow.db lands there), with this Python's
kernel. Prints one line per code cell as it finishes; exits 1 (after writing what ran) if a cell fails.
"""

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--out-dir", default="out")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    os.makedirs(args.out_dir, exist_ok=True)
    name = os.path.splitext(os.path.basename(args.notebook))[0]
    out_ipynb = os.path.join(args.out_dir, f"{name}.ipynb")
    out_html = os.path.join(args.out_dir, f"{name}.html")
    book = nbformat.read(args.notebook, as_version=4)
    code_cells = sum(1 for c in book.cells if c.cell_type == "code")
    started = time.time()
    done = 0

    def on_cell_executed(cell, cell_index, execute_reply, **_):
        nonlocal done
        if cell.cell_type != "code":
            return
        done += 1
        first = (cell.source.strip().splitlines() or [""])[0][:70]
        print(f"  [{done}/{code_cells}] {time.time() - started:6.1f} s  {first}", flush=True)

    client = NotebookClient(book, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": os.path.abspath(args.out_dir)}},
                            on_cell_executed=on_cell_executed)
    print(f"executing {args.notebook} ({code_cells} code cells) in {args.out_dir}/", flush=True)
    failed = None
    try:
        client.execute()
    except CellExecutionError as e:
        failed = e
    nbformat.write(book, out_ipynb)
    body, _ = HTMLExporter().from_notebook_node(book)
    with open(out_html, "w", encoding="utf-8") as handle:
        handle.write(body)
    print(f"wrote {out_ipynb} and {out_html} in {time.time() - started:.0f} s", flush=True)
    if failed is not None:
        print(f"a cell failed:\n{failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
