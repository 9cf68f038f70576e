"""Write a tiny RGB data set for the program tests, without numpy.

    tiny_npy.py DIR N SIZE A B LABELS

DIR/x.npy: N images SIZE x SIZE x 3 (NHWC uint8), byte i = (i*A + i//B) % 256
(no i//B term when B is 0); DIR/y.npy: N uint8 labels, the comma-separated
LABELS repeated.
"""
import sys


def npy(path, descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + data)


d, n, size, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
labels = [int(v) for v in sys.argv[6].split(",")]
count = n * size * size * 3
npy(d + "/x.npy", "|u1", "(%d, %d, %d, 3)" % (n, size, size),
    bytes((i * a + (i // b if b else 0)) % 256 for i in range(count)))
npy(d + "/y.npy", "|u1", "(%d,)" % n, bytes(labels[i % len(labels)] for i in range(n)))
