#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the seed corpora of fuzz_dnsmsg, fuzz_dns_bpf and fuzz_stream_bpf
(checked in; run again only to change them): DNS answers as servers write
them (A, AAAA, CNAME chains, compressed and uncompressed names, NXDOMAIN
with SOA, truncated) and a few malformed ones; HTTP CONNECT requests and
TLS ClientHellos with server_name as clients send them.
Usage: tests/fuzz/gen-net-seeds.py [CORPUS_DIR]  (default: next to this script)"""
import os
import struct
import sys


def name(n):
    out = b""
    for label in n.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ptr(off):
    return struct.pack(">H", 0xC000 | off)


def rr(owner, rtype, rdata, ttl=300):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def msg(qname, qtype, answers, flags=0x8180, ident=0x1234, ns=b"", nscount=0):
    hdr = struct.pack(">HHHHHH", ident, flags, 1, len(answers), nscount, 0)
    return hdr + name(qname) + struct.pack(">HH", qtype, 1) + b"".join(answers) + ns


A, CNAME, SOA, AAAA = 1, 5, 6, 28
Q = ptr(12)  # the question name
v4 = bytes([127, 77, 1, 1])
v4b = bytes([127, 77, 3, 9])
v6 = bytes.fromhex("fd770000000000000000000000000001")


def seeds():
    s = {}
    s["a"] = msg("claude.ai", A, [rr(Q, A, v4)])
    s["a-two"] = msg("claude.ai", A, [rr(Q, A, v4), rr(Q, A, v4b)])
    s["aaaa"] = msg("claude.ai", AAAA, [rr(Q, AAAA, v6)])
    s["a-upper-uncompressed"] = msg("Claude.AI", A, [rr(name("CLAUDE.ai"), A, v4)])
    s["wildcard"] = msg("x.y.anthropic.com", A, [rr(Q, A, v4b)])
    # CNAME chain: claude.ai -> edge.cdn.example -> e1.cdn.example (compressed)
    m = msg("claude.ai", A, [])
    cn1_at = len(m) + 12
    body = rr(Q, CNAME, name("edge.cdn.example"))
    cn2_owner = cn1_at
    edge_cdn = cn2_owner + 5  # "cdn.example" inside "edge.cdn.example"
    body2 = rr(ptr(cn2_owner), CNAME, b"\x02e1" + ptr(edge_cdn))
    e1_at = len(m) + len(body) + 2 + 10
    body3 = rr(ptr(e1_at), A, v4)
    s["cname-chain"] = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 3, 0, 0) + m[12:] + body + body2 + body3
    # the same records, last first
    s["cname-reversed"] = msg("api.anthropic.com", AAAA, [
        rr(name("b.example"), AAAA, v6),
        rr(name("a.example"), CNAME, name("b.example")),
        rr(Q, CNAME, name("a.example")),
    ])
    s["cname-loop"] = msg("claude.ai", A, [
        rr(Q, CNAME, name("x.example")),
        rr(name("x.example"), CNAME, name("claude.ai")),
        rr(name("x.example"), A, v4),
    ])
    soa = rr(name("ai"), SOA, name("ns.ai") + name("host.ai") + struct.pack(">IIIII", 1, 2, 3, 4, 60))
    s["nxdomain-soa"] = msg("claude.ai", A, [], flags=0x8183, ns=soa, nscount=1)
    s["nodata-soa"] = msg("claude.ai", AAAA, [], ns=soa, nscount=1)
    s["truncated-tc"] = msg("claude.ai", A, [], flags=0x8380)
    full = msg("claude.ai", A, [rr(Q, A, v4), rr(Q, A, v4b)])
    s["cut-short"] = full[:-3]
    s["ptr-loop"] = msg("claude.ai", A, [rr(ptr(40), A, v4)])[:40] + ptr(40)
    s["ptr-forward"] = msg("claude.ai", A, [rr(ptr(200), A, v4)])
    s["label-64"] = msg("a" * 64 + ".ai", A, [rr(Q, A, v4)])
    s["many"] = msg("claude.ai", A, [rr(Q, A, bytes([127, 77, 2, i])) for i in range(40)])
    s["edns-opt"] = msg("claude.ai", A, [rr(Q, A, v4)])
    s["other-name"] = msg("example.org", A, [rr(Q, A, v4)])
    return s


def ext(etype, body):
    return struct.pack(">HH", etype, len(body)) + body


def client_hello(sni, extra_first=True, legacy_sid=True):
    exts = b""
    if extra_first:
        exts += ext(0x002B, b"\x04\x03\x04\x03\x03")  # supported_versions
        exts += ext(0x000A, b"\x00\x04\x00\x1d\x00\x17")  # supported_groups
    if sni is not None:
        n = sni.encode()
        entry = b"\x00" + struct.pack(">H", len(n)) + n
        exts += ext(0x0000, struct.pack(">H", len(entry)) + entry)
    exts += ext(0x0033, struct.pack(">H", 36) + b"\x00\x1d\x00\x20" + bytes(32))  # key_share
    sid = bytes(range(32)) if legacy_sid else b""
    body = b"\x03\x03" + bytes(range(32)) + bytes([len(sid)]) + sid
    body += struct.pack(">H", 4) + b"\x13\x01\x13\x02" + b"\x01\x00"
    body += struct.pack(">H", len(exts)) + exts
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def stream_seeds():
    s = {}
    s["connect-claude"] = b"CONNECT claude.ai:443 HTTP/1.1\r\nHost: claude.ai:443\r\n\r\n"
    s["connect-upper-dot"] = b"CONNECT API.Anthropic.COM.:8443 HTTP/1.0\r\n\r\n"
    s["connect-wild"] = b"CONNECT x.y.anthropic.com:443 HTTP/1.1\r\n\r\n"
    s["connect-other"] = b"CONNECT example.org:443 HTTP/1.1\r\n\r\n"
    s["connect-v6"] = b"CONNECT [fd77::1]:443 HTTP/1.1\r\n\r\n"
    s["get"] = b"GET / HTTP/1.1\r\nHost: claude.ai\r\n\r\n"
    s["tls-claude"] = client_hello("claude.ai")
    s["tls-sni-first"] = client_hello("api.anthropic.com", extra_first=False, legacy_sid=False)
    s["tls-wild"] = client_hello("a.anthropic.com")
    s["tls-other"] = client_hello("example.org")
    s["tls-no-sni"] = client_hello(None)
    s["tls-cut"] = client_hello("claude.ai")[:60]
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    d1 = os.path.join(top, "dnsmsg")
    d2 = os.path.join(top, "dns_bpf")
    os.makedirs(d1, exist_ok=True)
    os.makedirs(d2, exist_ok=True)
    for k, m in seeds().items():
        with open(os.path.join(d1, k), "wb") as f:
            f.write(m)
        # fuzz_dns_bpf: byte 0 = UDP/IPv4, UDP/IPv6, TCP/IPv4, TCP/IPv6
        for kind, tag in enumerate(("udp4", "udp6", "tcp4", "tcp6")):
            with open(os.path.join(d2, k + "-" + tag), "wb") as f:
                f.write(bytes([kind]) + m)
    # harness-written question (bit 2): claude.ai A, 1 answer / api.anthropic.com AAAA
    with open(os.path.join(d2, "hq-a-udp4"), "wb") as f:
        f.write(bytes([4, 0, 1]) + rr(Q, A, v4))
    with open(os.path.join(d2, "hq-aaaa-tcp6"), "wb") as f:
        f.write(bytes([4 | 3, 1 | 4, 1]) + rr(Q, AAAA, v6))
    # lengths that lie (bits 3 and 4)
    m = seeds()["a"]
    with open(os.path.join(d2, "tcp-len-lie"), "wb") as f:
        f.write(bytes([2 | 8]) + struct.pack(">H", len(m) + 100) + m)
    with open(os.path.join(d2, "ip-len-lie"), "wb") as f:
        f.write(bytes([16]) + struct.pack(">H", 30) + m)
    d3 = os.path.join(top, "stream")
    os.makedirs(d3, exist_ok=True)
    for k, m in stream_seeds().items():
        with open(os.path.join(d3, k), "wb") as f:
            f.write(m)


if __name__ == "__main__":
    main()
