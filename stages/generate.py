"""DVC stage `generate`: synthetic raw customers and a simulated traffic log."""

from __future__ import annotations

import argparse

from churnops.core.io import atomic_open, atomic_path, write_jsonl
from churnops.core.params import load_params
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
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
    # The labels that arrive later for that traffic, from the same truth (churnops/pipeline/labeljoin.py
    # joins them to the log, for the labels and feedback stages).
    with atomic_open(args.labels_out, "w") as fh:
        fh.write("customer_id,churn\n")
        fh.writelines(f"{cid},{churn}\n" for cid, churn in labels)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--out": "raw customers (parquet)",
            "--traffic-out": "simulated prediction log (JSON lines)",
            "--labels-out": "its labels (CSV)",
        },
        params=PARAMS_HELP,
    )
    run_stage("generate", main, parser)
