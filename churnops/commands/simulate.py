"""``churnops simulate``: send generated (optionally drifted) customers to a running service.

It closes the loop a person can watch: ``churnops serve``, then ``churnops simulate
--shift tenure_months=-24``, then ``churnops monitor`` flags the drift. Customers come from
:func:`churnops.pipeline.generate.traffic_records`, so ``--shift``/``--mix`` mean what
``generate.traffic.shift``/``mix`` mean in params.yaml.

Exit codes (:mod:`churnops.commands.common`): 0 all sent, 1 the service answered with an
error, 2 bad arguments or the service cannot be reached. ``--rows`` and ``--seed`` are
``generate.traffic.rows``/``seed`` of params.yaml, with the same bounds; ``--batch`` is
bounded by the service's own batch limit.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from churnops.commands.common import field_type, value_type
from churnops.core.errors import ParamsError, ServiceError, UnreachableError


@dataclass
class Summary:
    """What a simulation sent and what came back."""

    sent: int = 0
    requests: int = 0
    probability_sum: float = 0.0
    churn: int = 0
    model_versions: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def mean_probability(self) -> float:
        return self.probability_sum / self.sent if self.sent else 0.0


_SHIFT_FORM = "FEATURE=NUMBER, e.g. tenure_months=-24"
_REGION_FORM = "REGION=NUMBER, e.g. north=1.5"


def parse_shift(values: list[str] | None, flag: str = "--shift", example: str = _SHIFT_FORM) -> dict[str, float]:
    """``["tenure_months=-24", ...]`` -> ``{"tenure_months": -24.0}``."""
    out: dict[str, float] = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ParamsError(f"{flag} {raw!r}: expected {example}") from None
    return out


def parse_mix(values: list[str] | None) -> dict[str, dict[str, float]]:
    """``["plan=basic:0.5,premium:0.1"]`` -> ``{"plan": {"basic": 0.5, "premium": 0.1}}``."""
    out: dict[str, dict[str, float]] = {}
    for raw in values or []:
        name, sep, spec = raw.partition("=")
        weights: dict[str, float] = {}
        try:
            if not sep or not spec:
                raise ValueError
            for part in spec.split(","):
                cat, colon, w = part.partition(":")
                if not colon:
                    raise ValueError
                weights[cat.strip()] = float(w)
        except ValueError:
            raise ParamsError(
                f"--mix {raw!r}: expected FEATURE=CATEGORY:WEIGHT,..., e.g. plan=basic:0.45,standard:0.35,premium:0.1"
            ) from None
        out[name.strip()] = weights
    return out


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _error(resp: Any) -> ServiceError:
    body = resp.text.strip().replace("\n", " ")
    return ServiceError(f"{resp.request.method} {resp.request.url.path} -> HTTP {resp.status_code}: {body[:300]}")


def send(client: Any, customers: Iterable[dict[str, Any]], batch: int) -> Summary:
    """POST ``customers`` to the service in requests of ``batch`` (``/predict`` when 1).

    Raises ServiceError when the service answers an error or no predictions, UnreachableError
    when the connection fails.
    """
    import httpx

    summary = Summary()
    start = time.perf_counter()
    try:
        for chunk in _batches(customers, batch):
            if batch == 1:
                resp = client.post("/predict", json=chunk[0])
            else:
                resp = client.post("/predict/batch", json={"items": chunk})
            if resp.status_code != 200:
                raise _error(resp)
            try:
                body = resp.json()
                preds = [body] if batch == 1 else body["predictions"]
                if len(preds) != len(chunk):
                    raise ValueError(f"{len(preds)} predictions for {len(chunk)} customers")
                probabilities = [float(p["churn_probability"]) for p in preds]
                churn = sum(bool(p["churn"]) for p in preds)
                version = str(body["model_version"])
            except (ValueError, KeyError, TypeError) as err:
                raise ServiceError(f"unexpected response from {resp.request.url.path}: {err}") from None
            summary.sent += len(chunk)
            summary.requests += 1
            summary.probability_sum += sum(probabilities)
            summary.churn += churn
            summary.model_versions.add(version)
    except httpx.TransportError as err:
        raise UnreachableError(f"cannot reach the service at {client.base_url}: {err or type(err).__name__}") from None
    summary.seconds = time.perf_counter() - start
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags; numbers are parsed and bounded by the params models (see :mod:`.common`)."""
    from pydantic import Field

    from churnops.core.params import TrafficParams
    from churnops.service.schemas import MAX_BATCH

    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default: %(default)s)")
    parser.add_argument(
        "--rows",
        required=True,
        type=field_type(TrafficParams, "rows"),
        help="customers to send (as generate.traffic.rows)",
    )
    parser.add_argument(
        "--shift", action="append", metavar="FEATURE=NUMBER", help="additive shift of a numeric feature (repeatable)"
    )
    parser.add_argument(
        "--mix",
        action="append",
        metavar="FEATURE=CAT:W,...",
        help="replacement category weights of a categorical feature (repeatable), "
        "e.g. plan=basic:0.45,standard:0.35,premium:0.1",
    )
    parser.add_argument(
        "--seed", default="0", type=field_type(TrafficParams, "seed"), help="generator seed (default: %(default)s)"
    )
    parser.add_argument(
        "--batch",
        default="500",
        type=value_type(Annotated[int, Field(ge=1, le=MAX_BATCH)], "batch"),
        help=f"customers per request, 1..{MAX_BATCH}; 1 uses /predict (default: %(default)s)",
    )
    parser.add_argument(
        "--tenure-effect",
        type=value_type(float, "number"),
        help="concept drift: the truth's log-odds per month of tenure (training data: -0.1; 0 = no protection)",
    )
    parser.add_argument(
        "--region-effect", action="append", metavar="REGION=NUMBER", help="concept drift: log-odds added to a region"
    )
    parser.add_argument(
        "--labels-out",
        metavar="FILE",
        help="write each sent customer's true churn label here (CSV: customer_id, churn), drawn from the "
        "same truth as generate",
    )
    parser.add_argument(
        "--timeout",
        default="30",
        type=value_type(Annotated[float, Field(gt=0, allow_inf_nan=False)], "seconds"),
        help="seconds per request (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Generate the customers, send them, print a one-line summary."""
    import httpx
    from pydantic import ValidationError

    from churnops.core.logformat import CUSTOMER_ID
    from churnops.core.params import TrafficParams, format_validation_error
    from churnops.pipeline.generate import traffic_records

    if args.rows == 0:  # valid for generate.traffic.rows (no log), but nothing to simulate
        raise ParamsError("argument --rows: 0 customers: nothing to send")
    try:
        # The same validation as generate.traffic in params.yaml: names and categories from the schema.
        traffic = TrafficParams.model_validate(
            {
                "rows": args.rows,
                "seed": args.seed,
                "shift": parse_shift(args.shift),
                "mix": parse_mix(args.mix),
                "truth": {
                    "tenure_effect": args.tenure_effect,
                    "region_effect": parse_shift(args.region_effect, "--region-effect", _REGION_FORM),
                },
            }
        )
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, "simulate").replace("simulate: ", "--")) from None
    url = args.url if "://" in args.url else f"http://{args.url}"
    labels: list[tuple[str, int]] = []
    records = traffic_records(
        traffic.seed, traffic.rows, traffic.shift, traffic.mix, traffic.truth.model_dump(), labels=labels
    )
    # Each customer carries its id (echoed and logged, never a feature): what its label joins on.
    customers = ({**r["features"], CUSTOMER_ID: r[CUSTOMER_ID]} for r in records)
    try:
        client = httpx.Client(base_url=url, timeout=args.timeout)
    except (httpx.InvalidURL, ValueError) as err:
        raise ParamsError(f"--url {args.url!r}: {err}") from None
    with client:
        summary = send(client, customers, args.batch)
    if args.labels_out:
        from churnops.core.io import atomic_open

        with atomic_open(args.labels_out, "w") as fh:
            fh.write(f"{CUSTOMER_ID},churn\n")
            fh.writelines(f"{cid},{churn}\n" for cid, churn in labels)
    versions = ", ".join(sorted(summary.model_versions)) or "-"
    print(
        f"sent {summary.sent} customers in {summary.requests} request(s) to {url} in {summary.seconds:.2f} s; "
        f"mean churn_probability {summary.mean_probability:.3f}, churn {summary.churn}; model_version {versions}"
    )
    return 0
