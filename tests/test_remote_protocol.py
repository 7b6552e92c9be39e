"""The wire protocol of remote adapters without a process: frames round-trip every array exactly and refuse
pickles and garbage; a handshake with any mistake is refused with every problem named; replies become
per-item arrays or per-item reasons."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from msxr_bench.adapters.base import CAPABILITIES
from msxr_bench.remote.protocol import (
    METHOD_OF, PROTOCOL_VERSION, ProtocolError, RemoteHandshakeError, check_fields, decode_items, encode_frame,
    parse_handshake, read_frame,
)
from remote_fake_entry import describe_dict


def _reader(data: bytes):
    stream = io.BytesIO(data)

    def read_exact(n: int) -> bytes:
        chunk = stream.read(n)
        if len(chunk) != n:
            raise EOFError(f"{len(chunk)} of {n} bytes")
        return chunk
    return read_exact


def test_frames_round_trip_arrays_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (2, 5, 7), dtype=np.uint8), rng.standard_normal((3, 4)).astype(np.float32),
              np.float64(2.5) * np.ones(()), np.zeros((0, 5)), np.asfortranarray(rng.standard_normal((3, 2))),
              np.array([np.nan, np.inf], dtype=np.float16)]
    header, back = read_frame(_reader(b"".join(encode_frame({"op": "x", "texts": ["é", "a\nb"]}, arrays))))
    assert header == {"op": "x", "texts": ["é", "a\nb"], "arrays": 6}
    for a, b in zip(arrays, back):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == np.ascontiguousarray(b).tobytes()


def test_a_pickled_payload_is_refused() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    body = json.dumps({"op": "x", "arrays": 1}).encode()
    frame = b"MSXR" + struct.pack(">I", len(body)) + body + struct.pack(">Q", len(buf.getvalue())) + buf.getvalue()
    with pytest.raises(ProtocolError, match="not a plain .npy"):
        read_frame(_reader(frame))
    with pytest.raises(ValueError):  # and the sender refuses to make one
        encode_frame({}, [np.array([{"a": 1}], dtype=object)])


@pytest.mark.parametrize("frame, match", [
    (b"HELLO WORLD!", "out of sync"),
    (b"MSXR" + struct.pack(">I", 5) + b"notjs", "not JSON"),
    (b"MSXR" + struct.pack(">I", 2) + b"[]", "JSON object"),
    (b"MSXR" + struct.pack(">I", 1 << 30), "exceeds"),
    (b"MSXR" + struct.pack(">I", 13) + b'{"arrays": 1}' + struct.pack(">Q", 1 << 40), "exceeds"),
])
def test_garbage_frames_are_protocol_errors(frame: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        read_frame(_reader(frame))


def _reply(**overrides) -> dict:
    return {"protocol_version": PROTOCOL_VERSION, "describe": describe_dict(**overrides),
            "methods": ["encode_images", "encode_texts", "count_text_tokens"], "worker": {"pid": 1}}


def test_a_correct_handshake_is_read() -> None:
    hs = parse_handshake(_reply(), "m")
    assert hs.capabilities == {"global", "patches", "text"} and hs.meta["embedding_dim"] == 8
    assert hs.geometry["grid"] == [4, 4] and hs.max_text_tokens == 16 and hs.identity == "fake-remote-identity"
    assert set(METHOD_OF) < set(CAPABILITIES)  # every servable capability is one of the contract's


@pytest.mark.parametrize("overrides, match", [
    ({"capabilities": ["global", "text_encoder"]}, "cannot be served remotely"),
    ({"capabilities": ["global", "boxes"]}, "no predict_boxes"),
    ({"geometry": None}, "geometry must be an object"),
    ({"geometry": {"kind": "squash", "resize": 0, "crop": 64, "grid": [4]}}, "kind.*resize.*grid"),
    ({"meta": {"name": "", "version": "1", "weights_source": "x"}}, "meta.name.*embedding_dim"),
    ({"max_text_tokens": -1}, "max_text_tokens"),
    ({"device": None}, "device"),
    ({"colour": "blue"}, "unknown key 'colour'"),
    ({"map_placement": "left"}, "map_placement"),
])
def test_a_wrong_handshake_names_every_problem(overrides: dict, match: str) -> None:
    with pytest.raises(RemoteHandshakeError, match=f"(?s)wrong handshake: .*{match}"):
        parse_handshake(_reply(**overrides), "m")


def test_a_limit_without_a_token_counter_and_a_version_mismatch_are_refused() -> None:
    reply = _reply()
    reply["methods"] = ["encode_images", "encode_texts"]
    with pytest.raises(RemoteHandshakeError, match="no count_text_tokens"):
        parse_handshake(reply, "m")
    with pytest.raises(RemoteHandshakeError, match="protocol version mismatch"):
        parse_handshake({**_reply(), "protocol_version": PROTOCOL_VERSION + 1}, "m")


def test_replies_become_items_or_reasons() -> None:
    g = np.ones((3, 8), np.float32)
    assert [i["global"].shape for i in decode_items({"layout": "stacked", "fields": {"global": 0}}, [g], 3)] == \
        [(8,)] * 3
    assert decode_items({"layout": "stacked", "fields": {"global": 0}}, [g], 2) == \
        ["global has shape [3, 8] for a batch of 2"] * 2
    items = decode_items({"layout": "items", "items": [{"fields": {"global": 0}}, {"error": "E: dark"}]},
                         [g[0]], 2)
    assert items[1] == "the model failed on this item: E: dark"
    with pytest.raises(ProtocolError):
        decode_items({"layout": "items", "items": [{"fields": {"global": 5}}]}, [g], 1)
    with pytest.raises(ProtocolError):
        decode_items({"layout": "rows"}, [], 1)


def test_fields_are_checked_for_shape_dtype_and_finiteness() -> None:
    shapes = {"global": (8,), "patches": (4, 4, 8)}
    good = {"global": np.ones(8, np.float64), "patches": np.ones((4, 4, 8), np.float16)}
    out = check_fields(good, shapes)
    assert out["global"].dtype == np.float32 and out["patches"].dtype == np.float32
    assert check_fields({**good, "patches": np.ones((3, 4, 8))}, shapes) == \
        "patches has shape [3, 4, 8], expected [4, 4, 8]"
    assert check_fields({**good, "global": np.ones(8, np.int64)}, shapes) == "global has dtype int64, expected floats"
    assert check_fields({**good, "global": np.full(8, np.nan)}, shapes) == "global has non-finite values"
    assert check_fields({**good, "extra": good["global"]}, shapes).startswith("unexpected fields ['extra']")
    assert check_fields({"global": good["global"], "patches": None}, shapes) == "patches missing"
