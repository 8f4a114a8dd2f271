# listen.py [--hello] [--udp] ADDR:PORT...: a TCP listener on each address
# ("[v6]:port" for IPv6) that accepts and closes (after writing "hello\n"
# with --hello), and with --udp a bound UDP socket on it too; prints
# "listening" once all are bound, then serves until killed.
import socket, sys, threading, time

args = sys.argv[1:]
hello = "--hello" in args
udp = "--udp" in args
specs = [a for a in args if not a.startswith("--")]
keep = []


def serve(s):
    while True:
        c, _ = s.accept()
        if hello:
            try:
                c.sendall(b"hello\n")
            except OSError:
                pass
        c.close()


for spec in specs:
    addr, port = spec.rsplit(":", 1)
    addr = addr.strip("[]")
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, int(port)))
    t.listen(64)
    threading.Thread(target=serve, args=(t,), daemon=True).start()
    if udp:
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, int(port)))
        keep.append(u)
print("listening", flush=True)
while True:
    time.sleep(3600)
