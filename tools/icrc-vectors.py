#!/usr/bin/env python3
"""Turn a pcap of RoCEv2 packets (tools/capture-icrc-vectors.sh) into ICRC
test vectors for the protocol core: rxe_migros/proto/src/icrc_vectors.rs.

Keeps the shortest packet of each (IP version, opcode)."""
import struct
import sys


def packets(path):
    data = open(path, 'rb').read()
    magic, = struct.unpack('<I', data[:4])
    assert magic == 0xa1b2c3d4, 'expects a little-endian microsecond pcap'
    linktype, = struct.unpack('<I', data[20:24])
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack('<IIII', data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if linktype == 1:  # Ethernet
            ethertype, = struct.unpack('>H', frame[12:14])
            yield ethertype, frame[14:]


def main(pcap, out):
    seen = {}
    rows = []
    for ethertype, ip in packets(pcap):
        if ethertype == 0x0800:
            ihl = (ip[0] & 0xf) * 4
            hdr = ip[:ihl + 8]
            roce = ip[ihl + 8:]
            version = 4
        elif ethertype == 0x86dd:
            hdr = ip[:48]
            roce = ip[48:]
            version = 6
        else:
            continue
        if struct.unpack('>H', hdr[-6:-4])[0] != 4791:
            continue
        key = (version, roce[0])
        if key not in seen or len(roce) < len(seen[key][3]):
            seen[key] = (version, roce[0], hdr, roce)
    rows = [seen[k] for k in sorted(seen)]
    with open(out, 'w') as f:
        f.write('// SPDX-License-Identifier: GPL-2.0\n\n')
        f.write('//! RoCEv2 packets sent by the C rdma_rxe (Linux 7.3) in the test VM,\n')
        f.write('//! captured by tools/capture-icrc-vectors.sh and converted by\n')
        f.write('//! tools/icrc-vectors.py: (IP and UDP headers, BTH to ICRC inclusive).\n')
        f.write('//! Generated; do not edit.\n\n')
        f.write('pub(crate) const VECTORS: &[(&str, &[u8], &[u8])] = &[\n')
        for version, opcode, hdr, roce in rows:
            f.write('    (\n        "IPv%d opcode %#04x",\n' % (version, opcode))
            for blob in (hdr, roce):
                f.write('        &[')
                f.write(', '.join('0x%02x' % b for b in blob))
                f.write('],\n')
            f.write('    ),\n')
        f.write('];\n')
    print('%d vectors: %s' % (len(rows), sorted(seen)))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
