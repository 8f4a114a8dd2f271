"""DNS on the wire for the servers and clients of tests/integration/dns.sh
(copied beside them; tests only: no compression in questions, A records,
class IN)."""
import errno
import socket
import struct


def query(name, qtype=1, qid=0x4242):
    """A query for name (QTYPE qtype), recursion desired."""
    labels = b"".join(bytes([len(l)]) + l.encode() for l in name.split("."))
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", qtype, 1)


def question_end(m):
    """Offset after the question of message m."""
    o = 12
    while m[o]:
        o += m[o] + 1
    return o + 5


def qname(m):
    """The question's name, dotted."""
    o, labels = 12, []
    while m[o]:
        labels.append(m[o + 1:o + 1 + m[o]].decode())
        o += m[o] + 1
    return ".".join(labels)


def answer(q, addrs):
    """The response to query q: an A record (owner: the question, TTL 60)
    for each IPv4 address of addrs."""
    recs = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(a) for a in addrs)
    return q[:2] + struct.pack(">HHHHH", 0x8180, 1, len(addrs), 0, 0) + q[12:question_end(q)] + recs


def framed(m):
    """m after its 2-byte length, as over TCP."""
    return struct.pack(">H", len(m)) + m


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("the peer closed after %d of %d bytes" % (len(b), n))
        b += d
    return b


def recv_framed(s):
    """One message from a TCP stream."""
    return recv_exact(s, struct.unpack(">H", recv_exact(s, 2))[0])


def connect_443(addr):
    """A TCP connect to port 443 of addr: "ADDR OK" or "ADDR ERRNO text"."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((addr, 443))
        return "%s OK" % addr
    except OSError as e:
        return "%s %s %s" % (addr, errno.errorcode.get(e.errno, str(e.errno)), e.strerror)
    finally:
        s.close()
