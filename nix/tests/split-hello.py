# A TLS client whose ClientHello goes out in two TCP segments, cut inside the SNI; the
# second is sent only once the router has acknowledged the first (TCP_INFO's tcpi_unacked,
# at byte 24 of struct tcp_info). Prints the `node` of the /version answer.
# Usage: split-hello ROUTER HOST
import json
import socket
import ssl
import struct
import sys
import time

router, host = sys.argv[1], sys.argv[2]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = outgoing.read()
cut = hello.index(host.encode()) + len(host) // 2
sock = socket.create_connection((router, 443), timeout=30)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.sendall(hello[:cut])
for _ in range(3000):
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    if struct.unpack_from("I", info, 24)[0] == 0:
        break
    time.sleep(0.01)
else:
    sys.exit("the first segment was never acknowledged")
sock.sendall(hello[cut:])


def pump():
    data = sock.recv(65536)
    if not data:
        raise EOFError("connection closed")
    incoming.write(data)


while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        sock.sendall(outgoing.read())
        pump()
request = f"GET /version HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
tls.write(request.encode())
sock.sendall(outgoing.read())
answer = b""
while b"}" not in answer:
    try:
        answer += tls.read(65536)
    except ssl.SSLWantReadError:
        pump()
body = answer.split(b"\r\n\r\n", 1)[1]
print(json.loads(body[body.index(b"{"):body.rindex(b"}") + 1])["node"])
