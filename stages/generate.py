"""DVC stage `generate`: synthetic raw customers and a simulated traffic log."""

from __future__ import annotations

import argparse

from churnops.core.io import atomic_open, atomic_path, write_jsonl
from churnops.core.params import load_params
from churnops.core.stage import run_stage
from churnops.pipeline.generate import generate_chunks, traffic_records


def main(args: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = load_params(args.params).generate
    with atomic_path(args.out) as tmp:
        writer = None
        try:
            for chunk in generate_chunks(p.seed, p.rows, p.dirty_fraction):
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
    t = p.traffic
    labels: list[tuple[str, int]] = []
    truth = t.truth.model_dump()
    write_jsonl(args.traffic_out, traffic_records(t.seed, t.rows, shift=t.shift, mix=t.mix, truth=truth, labels=labels))
    # The labels that arrive later for that traffic, from the same truth (churnops/feedback.py reads them).
    with atomic_open(args.labels_out, "w") as fh:
        fh.write("customer_id,churn\n")
        fh.writelines(f"{cid},{churn}\n" for cid, churn in labels)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="raw customers (parquet)")
    parser.add_argument("--traffic-out", required=True, help="simulated prediction log (JSON lines)")
    parser.add_argument("--labels-out", default="data/traffic/labels.csv", help="its labels (CSV)")
    run_stage("generate", main, parser)
