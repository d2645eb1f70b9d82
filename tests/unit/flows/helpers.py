"""Small builders shared by the flows unit tests."""

from __future__ import annotations

import ipaddress

import numpy as np
from tests import flowenc as encode

from routepilot.flows.config import FlowsConfig
from routepilot.flows.decoder import FlowDecoder
from routepilot.flows.metrics import FlowMetrics


def ip4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def decoder(**config) -> FlowDecoder:
    return FlowDecoder(FlowsConfig(**config), FlowMetrics())


def v4_records(dsts: list[str], nbytes: list[int], out_if: int = 1, nh: str = "0.0.0.0"):
    rec = np.zeros(len(dsts), dtype=encode.record_dtype(encode.IPV4_FIELDS))
    rec["ie12"] = [ip4(d) for d in dsts]
    rec["ie1"] = nbytes
    rec["ie2"] = 1
    rec["ie14"] = out_if
    rec["ie18"] = ip4(nh)
    return rec


def ipfix_template(tid: int = 256, fields=encode.IPV4_FIELDS) -> bytes:
    return encode.flow_set(2, encode.template_record(tid, fields))
